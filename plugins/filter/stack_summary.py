# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: human summary lines of a host report written by playbooks/validate.yml (docs in stack_summary.yml)."""
from __future__ import annotations

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _stack_check


def stack_summary(report):
    return _stack_check.summary_lines(report)


class FilterModule:
    def filters(self):
        return {"stack_summary": stack_summary}
