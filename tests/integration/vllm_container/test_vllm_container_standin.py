# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vllm_runtime=container against a real Docker daemon with a STAND-IN image (the real vllm/vllm-openai image
cannot be pulled here: no Docker Hub). The stand-in (standin/) is Debian + python3 with a fake
``vllm.entrypoints.openai.api_server`` that parses the same flags, enforces VLLM_API_KEY on /v1/* and reports
what it got. The role's own task files run: tasks/container.yml (env file, docker_container, wait for /health)
and tasks/verify.yml (/v1/models with and without the key, one chat completion).

What this proves for real: the parameters the role renders are accepted by community.docker.docker_container and
the Docker API; the command reaches the process unchanged; the model directory is read-only inside; the key is only
in the env file (0600) and the container's environment; a rerun changes nothing; a changed key recreates the
container; Docker's health check turns healthy. What it cannot prove: GPUs (device requests need the NVIDIA
toolkit and a GPU) and vLLM itself.

    .venv/bin/python -m pytest tests/integration/vllm_container -q
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service  # noqa: E402

BASE_IMAGE = "localtest/debian13-systemd:latest"
IMAGE, TAG = "localtest/vllm-openai-standin", "test"
KEY1 = "sk-standin-" + "a1b2" * 5
KEY2 = "sk-standin-" + "c3d4" * 5
BIN = os.path.join(ROOT, ".venv", "bin") if os.path.isdir(os.path.join(ROOT, ".venv")) \
    else os.path.dirname(sys.executable)


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=600, check=check)


def docker_ready():
    if not shutil.which("docker"):
        return False
    info = docker("image", "inspect", BASE_IMAGE, check=False)
    return info.returncode == 0


pytestmark = pytest.mark.skipif(not docker_ready(), reason="needs a Docker daemon and %s "
                                                           "(scripts/build-images.sh)" % BASE_IMAGE)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url, key=None):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + key} if key else {})
    with urllib.request.build_opener().open(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    docker("build", "-q", "-t", "%s:%s" % (IMAGE, TAG), os.path.join(HERE, "standin"))
    tmp = tmp_path_factory.mktemp("standin")
    model = tmp / "models" / "tiny-chat"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}\n')
    name = "standin-%d" % os.getpid()
    service = {"name": name, "model": str(model), "served_model_name": "tiny-chat", "port": free_port(),
               "host": "0.0.0.0", "max_model_len": 2048, "extra_args": {"enable-prefix-caching": True}}
    extra = {"vllm_runtime": "container", "vllm_profile": "cpu", "vllm_api_key": KEY1,
             "vllm_container_image": IMAGE, "vllm_container_tag": TAG, "vllm_container_pull": "never",
             "vllm_config_dir": str(tmp / "etc-vllm"), "vllm_home": str(tmp / "var-lib-vllm"),
             "vllm_health_timeout": 120, "vllm_services": [service],
             "ansible_python_interpreter": sys.executable}
    (tmp / "etc-vllm").mkdir(mode=0o750)
    (tmp / "var-lib-vllm").mkdir(mode=0o750)
    yield {"tmp": tmp, "service": service, "extra": extra, "container": "vllm-" + name}
    docker("rm", "-f", "vllm-" + name, check=False)


def converge(extra):
    envs = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,",
                           os.path.join(HERE, "converge.yml"), "-e", json.dumps(extra)],
                          cwd=ROOT, env=envs, capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    return proc.returncode, int(recap.group(2)) if recap else -1, out


def inspect(name):
    return json.loads(docker("inspect", name).stdout)[0]


@pytest.fixture(scope="module")
def first(env):
    rc, changed, out = converge(env["extra"])
    return rc, changed, out, inspect(env["container"]) if rc == 0 else None


def test_first_converge_runs_the_container_and_verify_passes(first):
    rc, changed, out, unused = first
    assert rc == 0, out[-5000:]
    assert changed >= 2, out[-3000:]       # env file + container
    assert "serves tiny-chat" in out and "answered: Hello (stand-in)." in out
    assert KEY1 not in out


def test_the_container_runs_the_systemd_flags_with_a_read_only_model(env, first):
    rc, unused, out, info = first
    assert rc == 0, out[-3000:]
    svc = env["service"]
    assert info["Config"]["Entrypoint"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    systemd = _vllm_service.argv(svc, "/venv/bin/python", "cpu")[3:]
    assert info["Config"]["Cmd"] == systemd
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts[svc["model"]]["RW"] is False and mounts[svc["model"]]["Source"] == svc["model"]
    assert mounts[env["extra"]["vllm_home"]]["RW"] is True
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert info["HostConfig"]["IpcMode"] == "host"
    assert info["HostConfig"]["PortBindings"] == {"%d/tcp" % svc["port"]: [{"HostIp": "0.0.0.0",
                                                                           "HostPort": str(svc["port"])}]}
    assert info["Config"]["Labels"]["llmops.vllm_stack.service"] == svc["name"]
    assert "no-new-privileges:true" in info["HostConfig"]["SecurityOpt"]
    seen = get("http://127.0.0.1:%d/standin" % svc["port"])
    assert seen["argv"] == systemd                       # what the process got
    assert seen["model_read_only"] is True and seen["model_config"] is True
    assert "VLLM_API_KEY" in seen["env_names"] and "CUDA_VISIBLE_DEVICES" not in seen["env_names"]
    assert seen["home_writable"] is True


def test_the_key_is_only_in_the_0600_env_file_and_the_container_environment(env, first):
    rc, unused, out, info = first
    assert rc == 0, out[-3000:]
    env_file = env["tmp"] / "etc-vllm" / ("%s.env" % env["service"]["name"])
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert "VLLM_API_KEY=%s\n" % KEY1 in env_file.read_text()
    assert "VLLM_API_KEY=%s" % KEY1 in info["Config"]["Env"]
    assert KEY1 not in json.dumps(info["Config"]["Cmd"]) + json.dumps(info["Config"]["Labels"])
    assert KEY1 not in json.dumps(info["Config"]["Entrypoint"]) + json.dumps(info["Config"]["Healthcheck"])


def test_docker_health_check_turns_healthy(env, first):
    assert first[0] == 0
    deadline = time.time() + 90                          # first probe after the 30 s interval
    status = None
    while time.time() < deadline:
        status = inspect(env["container"])["State"]["Health"]["Status"]
        if status == "healthy":
            break
        time.sleep(3)
    assert status == "healthy", inspect(env["container"])["State"]["Health"]


def test_rerun_changes_nothing_and_keeps_the_container(env, first):
    assert first[0] == 0
    rc, changed, out = converge(env["extra"])
    assert rc == 0, out[-3000:]
    assert changed == 0, out[-5000:]
    assert inspect(env["container"])["Id"] == first[3]["Id"]


def test_a_new_key_recreates_the_container_and_the_old_key_stops_working(env, first):
    assert first[0] == 0
    extra = dict(env["extra"], vllm_api_key=KEY2)
    rc, changed, out = converge(extra)
    assert rc == 0, out[-5000:]
    assert changed >= 2
    info = inspect(env["container"])
    assert info["Id"] != first[3]["Id"]
    port = env["service"]["port"]
    assert get("http://127.0.0.1:%d/v1/models" % port, KEY2)["data"][0]["id"] == "tiny-chat"
    with pytest.raises(urllib.error.HTTPError) as err:
        get("http://127.0.0.1:%d/v1/models" % port, KEY1)
    assert err.value.code == 401
    assert KEY2 not in out


def test_a_missing_image_that_may_not_be_pulled_is_refused_with_the_ways_out(env, first):
    assert first[0] == 0
    extra = dict(env["extra"], vllm_container_tag="not-here")
    rc, unused, out = converge(extra)
    assert rc != 0
    flat = " ".join(out.split())
    assert "%s:not-here is not on localhost." % IMAGE in flat
    assert "vllm_container_image_archive (`docker save %s:not-here` copied to the host)" % IMAGE in flat
    assert inspect(env["container"])["Config"]["Image"] == "%s:%s" % (IMAGE, TAG)   # left running as it was


def test_offline_archive_is_loaded_when_the_image_is_missing(env, first, tmp_path):
    """`docker save` of the image under another tag, that tag removed: the role loads the archive, then runs it."""
    assert first[0] == 0
    docker("tag", "%s:%s" % (IMAGE, TAG), "%s:archive" % IMAGE)
    archive = tmp_path / "vllm-openai-archive.tar"
    docker("save", "-o", str(archive), "%s:archive" % IMAGE)
    docker("rmi", "%s:archive" % IMAGE)
    extra = dict(env["extra"], vllm_container_tag="archive", vllm_container_image_archive=str(archive))
    try:
        rc, changed, out = converge(extra)
        assert rc == 0, out[-5000:]
        assert "Load the image from the offline archive" in out and changed >= 2
        assert inspect(env["container"])["Config"]["Image"] == "%s:archive" % IMAGE
        rc, changed, out = converge(extra)                    # present now: nothing loaded, nothing changed
        assert rc == 0 and changed == 0, out[-5000:]
    finally:
        docker("rm", "-f", env["container"], check=False)
        docker("rmi", "%s:archive" % IMAGE, check=False)
