# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad inputs to the GPU host roles are refused in preflight, before any change, naming the variable to change.

Runs the real roles with ansible-playbook against localhost (connection=local, --check) with a fake GPU injected
through the roles' `llmops_gpu_info` hook, and reads the result with the json callback.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

PLAY = """
- name: GPU host roles
  hosts: all
  gather_facts: false
  roles:
    - role: llmops.vllm_stack.nvidia_driver
      when: run_driver | default(true)
    - role: llmops.vllm_stack.nouveau
      when: run_nouveau | default(true)
    - role: llmops.vllm_stack.cuda_toolkit
      when: run_toolkit | default(true)
"""

# A GPU before the NVIDIA driver: nouveau bound (what gpu_info reports on such a host).
NOUVEAU_GPU = {"nvidia_gpu_present": True, "gpu_count": 1, "pci_gpu_count": 1, "nouveau_loaded": True,
               "nvidia_driver_loaded": False, "secure_boot": "disabled", "driver_version": None,
               "cuda_driver_version": None, "gpus_bound_to": ["nouveau"], "nvswitch_present": False,
               "kernel_driver": {"version": None, "kernel_module": None}, "nvml": {"available": False}, "gpus": []}
# An R570 driver already loaded.
R570_GPU = dict(NOUVEAU_GPU, nouveau_loaded=False, nvidia_driver_loaded=True, driver_version="570.86.15",
                cuda_driver_version="12.8", gpus_bound_to=["nvidia"],
                kernel_driver={"version": "570.86.15", "kernel_module": "open"})
H200_GPU = dict(R570_GPU, driver_version="580.159.04", cuda_driver_version="13.0",
                kernel_driver={"version": "580.159.04", "kernel_module": "open"})
RUNFILE = "https://us.download.nvidia.com/tesla/580.105.08/NVIDIA-Linux-x86_64-580.105.08.run"


CASES = [
    ("unknown branch format",
     {"llmops_gpu_info": NOUVEAU_GPU, "nvidia_driver_branch": "580.105.08", "run_nouveau": False,
      "run_toolkit": False},
     "nvidia_driver : Refuse inputs that cannot work", ["nvidia_driver_branch='580.105.08'", "three-digit branch"]),
    ("runfile without checksum",
     {"llmops_gpu_info": NOUVEAU_GPU, "nvidia_driver_method": "runfile", "nvidia_driver_runfile_url": RUNFILE,
      "run_nouveau": False, "run_toolkit": False},
     "nvidia_driver : Refuse inputs that cannot work", ["nvidia_driver_runfile_checksum", "never run unverified"]),
    ("toolkit newer than the driver allows",
     {"llmops_gpu_info": R570_GPU, "nvidia_driver_branch": "570", "cuda_toolkit_version": "13.0",
      # not installed here, whatever the test machine has in /usr/local
      "cuda_toolkit_home": "/nonexistent/cuda-13.0", "run_nouveau": False},
     "cuda_toolkit : Refuse inputs that cannot work",
     ["cuda_toolkit_version=13.0", "580.65.06", 'nvidia_driver_branch: "580"']),
    ("runfile with Secure Boot on and no signing key",
     {"llmops_gpu_info": dict(NOUVEAU_GPU, secure_boot="enabled"), "nvidia_driver_method": "runfile",
      "nvidia_driver_runfile_url": RUNFILE, "nvidia_driver_runfile_checksum": "sha256:" + "0" * 64,
      "run_nouveau": False, "run_toolkit": False},
     "nvidia_driver : Refuse inputs that cannot work",
     ["nvidia_driver_runfile_signing_key", "nvidia_driver_runfile_signing_cert", "Secure Boot"]),
    ("nouveau without any NVIDIA module",
     {"llmops_gpu_info": NOUVEAU_GPU, "run_driver": False, "run_toolkit": False},
     "nouveau : Refuse to blacklist nouveau without a loadable NVIDIA module",
     ["Not blacklisting nouveau", "nouveau_require_nvidia_module"]),
    ("installed driver path", {"llmops_gpu_info": H200_GPU, "run_toolkit": False}, None, []),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One ansible-playbook run, one inventory host (a local connection) per case, so the cases run in parallel."""
    tmp = tmp_path_factory.mktemp("gpu_roles")
    (tmp / "play.yml").write_text(PLAY)
    hosts = {}
    for index, (_case, extra, _task, _needles) in enumerate(CASES):
        hosts["case%d" % index] = dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                                       **extra)
    (tmp / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_FORKS=str(len(CASES)))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp / "inventory.json"),
         "--check", str(tmp / "play.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    per_host = {}
    for index in range(len(CASES)):
        host = "case%d" % index
        seen = [(t["task"]["name"], t["hosts"][host]) for t in out["plays"][0]["tasks"] if host in t["hosts"]]
        per_host[index] = {
            "failed": [(name, res) for name, res in seen if res.get("failed")],
            "changed": [name for name, res in seen if res.get("changed")],
            "stats": out["stats"][host],
        }
    return per_host


@pytest.mark.parametrize("index", [i for i, c in enumerate(CASES) if c[2]], ids=[c[0] for c in CASES if c[2]])
def test_bad_input_is_refused_before_any_change(results, index):
    _case, _extra, task, needles = CASES[index]
    res = results[index]
    assert len(res["failed"]) == 1, res["failed"]
    name, result = res["failed"][0]
    assert task in name, name
    for needle in needles:
        assert needle in result["msg"], (needle, result["msg"])
    assert res["changed"] == [] and res["stats"]["changed"] == 0


def test_installed_driver_path_passes_and_changes_nothing_in_the_driver_roles(results):
    """R580 loaded (as on the H200 machine): nvidia_driver and nouveau change nothing, even in --check."""
    res = results[len(CASES) - 1]
    assert res["failed"] == [] and res["changed"] == [] and res["stats"]["failures"] == 0
