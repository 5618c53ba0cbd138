# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/preflight.yml on the seed inventories (tests/integration/preflight/*): saved gpu_info results,
local connection, the real modules and fit engine. Refusals list every problem with its variable and fix."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "preflight.yml")
INVENTORIES = os.path.join(ROOT, "tests", "integration", "preflight")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
if not os.path.exists(ANSIBLE_PLAYBOOK):
    ANSIBLE_PLAYBOOK = shutil.which("ansible-playbook")

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK, reason="ansible-playbook is not installed")


def preflight(seed, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", os.path.join(INVENTORIES, seed, "hosts.yml"), PLAYBOOK] +
                          list(extra), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_seed000_as_written_is_refused_naming_tp_and_what_fits():
    rc, out = preflight("seed000-as-written")
    assert rc != 0
    assert "The vLLM plan of seed000-a10x4 has 1 problem(s); nothing was changed." in out
    assert ("- vllm_services[0].tensor_parallel_size (deepseek-r1-32b): Total number of attention heads (40) must "
            "be divisible by tensor parallel size (3).") in out
    assert "tensor_parallel_size 2 does not fit (30.55 GiB of weights per GPU, 21.08 GiB requested)" in out
    # GPU 3 (bge-m3 0.75 + reranker 0.20 + two CUDA contexts) is shown and fits
    assert "bge-m3 0.75, bge-reranker 0.20     0.995" in out
    assert "changed=0" in out


def test_seed000_fixed_is_accepted_and_prints_the_gpu_table():
    rc, out = preflight("seed000-fixed")
    assert rc == 0, out
    assert "GPU  NAME        TOTAL GiB  USABLE GiB  USED GiB" in out
    assert "deepseek-r1-32b 0.86, bge-m3 0.07        0.975" in out
    assert "failed=0" in out and "changed=0" in out


def test_seed002_as_written_lists_both_problems_at_once():
    rc, out = preflight("seed002-as-written")
    assert rc != 0
    assert "The vLLM plan of seed002-rtx4060 has 2 problem(s); nothing was changed." in out
    assert "- vllm_services[0].max_model_len (r1-distill-1-5b): does not fit on GPU(s) [0]" in out
    assert "max seq len (131072)" in out
    assert "Fix: set vllm_services[0].max_model_len: " in out
    assert "- vllm_services[0].gpu_memory_utilization (r1-distill-1-5b): GPU 0 (NVIDIA GeForce RTX 4060" in out
    assert "1.007 > 1" in out


def test_seed002_fixed_is_accepted():
    rc, out = preflight("seed002-fixed")
    assert rc == 0, out
    assert "r1-distill-1-5b 0.85" in out and "failed=0" in out


def test_preflight_tag_selects_the_play():
    rc, out = preflight("seed002-fixed", "--tags", "preflight")
    assert rc == 0 and "Check the vLLM plan against the GPUs" in out
    rc, out = preflight("seed002-fixed", "--tags", "nothing_else")
    assert rc == 0 and "Check the vLLM plan against the GPUs" not in out
