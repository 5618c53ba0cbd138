# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() the way Ansible does (JSON args in, JSON result out) and return the result dict."""
import io
import json
from contextlib import redirect_stdout
from unittest import mock

import pytest


def run_module(main, args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    out = io.StringIO()
    with mock.patch("ansible.module_utils.basic._ANSIBLE_ARGS", payload), \
            mock.patch("ansible.module_utils.basic._ANSIBLE_PROFILE", "legacy"), redirect_stdout(out):
        with pytest.raises(SystemExit):
            main()
    return json.loads(out.getvalue())
