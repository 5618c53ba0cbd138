# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback for tests/device/gpu_roles_check.sh: one JSON document with every task result and the stats.

ansible-core alone has no JSON callback (it lives in ansible.posix), and the GPU machine has only ansible-core.
"""
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: gpu_roles_log
type: stdout
short_description: JSON log of task results for the GPU roles device proof
description:
  - Prints one JSON document at the end of the run with every task result (name, host, changed, failed, skipped,
    msg) and the per-host stats.
author:
  - llmops.vllm_stack maintainers
"""

KEEP = ("changed", "failed", "skipped", "msg", "rc", "stdout", "stderr")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "gpu_roles_log"

    def __init__(self):
        super().__init__()
        self.results = []

    def _record(self, result, status):
        res = result._result  # pylint: disable=protected-access
        entry = {"task": result._task.get_name(), "host": result._host.get_name(),  # pylint: disable=protected-access
                 "status": status}
        entry.update({key: res.get(key) for key in KEEP if key in res})
        if "results" in res:  # loops: keep each item's outcome
            entry["items"] = [{key: item.get(key) for key in KEEP + ("item",) if key in item}
                              for item in res["results"] if isinstance(item, dict)]
        self.results.append(entry)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"results": self.results, "stats": summary}, indent=1, default=str))
