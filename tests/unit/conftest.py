"""Make this checkout importable as ``ansible_collections.llmops.vllm_stack``.

`make setup` creates ``.cache/collections/ansible_collections/llmops/vllm_stack`` as a symlink to the
repository root; this conftest creates it too when pytest is run directly.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLL_PARENT = os.path.join(ROOT, ".cache", "collections")
LINK = os.path.join(COLL_PARENT, "ansible_collections", "llmops", "vllm_stack")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join("..", "..", "..", ".."), LINK)
if COLL_PARENT not in sys.path:
    sys.path.insert(0, COLL_PARENT)

SHARED = os.environ.get("LLMOPS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))


import pytest  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(autouse=True)
def fresh_ansible_warnings():
    """Module tests run many modules in one process: ansible-core keeps warnings/deprecations in process-global
    dicts that de-duplicate by message, so a warning emitted by an earlier test would vanish from a later one."""
    try:
        from ansible.module_utils.common import warnings as ansible_warnings  # pylint: disable=import-outside-toplevel
    except ImportError:
        yield
        return
    # pylint: disable=protected-access
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
    yield
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
