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
