# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input is refused by the role's preflight (before any change), with the variable named.

Runs `ansible-playbook --check` of the preflight phase against localhost (read-only: facts, asserts, modules in
check mode)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK = os.path.join(os.path.dirname(__file__), "container_roles_preflight.yml")

DIFY_OK = {
    "dify_release_checksum": "sha256:" + "0" * 64,
    "dify_admin_email": "admin@example.com",
    "dify_admin_password": "Sup3rSecret1",
    "vllm_services": [{"name": "chat", "port": 8000, "task": "chat"}, {"name": "embed", "port": 8001, "task": "embed"}],
    "dify_models": [{"service": "chat"}, {"service": "embed"}],
    "dify_vllm_host": "10.0.0.5",
}


def preflight(role, extra_vars):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"))
    proc = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook") if os.path.exists(os.path.join(ROOT, ".venv"))
         else "ansible-playbook", "-i", "localhost,", "--check", PLAYBOOK,
         "-e", json.dumps(dict(extra_vars, role_under_test=role, ansible_python_interpreter=sys.executable))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("role, extra_vars, expected", [
    ("docker", {"docker_registry_mirrors": ["docker.m.daocloud.io"]},
     ["docker_registry_mirrors", "'docker.m.daocloud.io' is not an http(s) URL"]),
    ("docker", {"docker_registry_mirrors": ["https://registry.example.com/v2/dockerhub"]},
     ["docker_registry_mirrors", "has a path"]),
    ("docker", {"docker_storage_driver": "overlay3"},
     ["docker_storage_driver", "unknown storage driver 'overlay3'"]),
    ("dify", dict(DIFY_OK, dify_admin_password="password"),
     ["dify_admin_password", "at least 8 characters with at least one letter and one digit"]),
    ("dify", dict(DIFY_OK, dify_models=[{"service": "chat"}, {"service": "rerank"}]),
     ["dify_models[1].service 'rerank' is not a service defined in vllm_services (defined: chat, embed)"]),
    ("dify", dict(DIFY_OK, dify_release_checksum=""),
     ["dify_release_checksum must pin the archive"]),
])
def test_bad_input_is_refused_naming_the_variable(role, extra_vars, expected):
    rc, output = preflight(role, extra_vars)
    assert rc != 0, output[-3000:]
    flat = " ".join(output.split())
    for fragment in expected:
        assert fragment in flat, output[-3000:]
