"""A two-node Ray cluster formed for real: units, environment, ports, `ray status`, and work placed on both nodes
by a driver on the head running as the vLLM user (what vLLM's Ray executor does)."""
import json
import os
import re

import testinfra.utils.ansible_runner

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("ray_head") + RUNNER.get_hosts("ray_workers")
if len(testinfra_hosts) != 2:  # never pass by skipping every test
    raise RuntimeError("expected one ray_head and one ray_workers host, got %s" % testinfra_hosts)
ENV = "/opt/llmops/venv"
PORT = 6379


def _is_head(host):
    return host.backend.get_hostname().endswith("-head")


def _ip(host):
    return host.interface("eth0").addresses[0]


def _head_ip():
    return _ip(RUNNER.get_host(RUNNER.get_hosts("ray_head")[0]))


def _env_file(host):
    out = {}
    for line in host.file("/etc/ray/ray.env").content_string.splitlines():
        key, value = line.split("=", 1)
        out[key] = value.strip('"')
    return out


def test_ray_is_the_pinned_version_in_the_stack_env(host):
    out = host.check_output(f"{ENV}/bin/python -c 'import ray; print(ray.__version__)'")
    assert out.strip() == "2.48.0"


def test_unit_active_enabled_and_the_other_absent(host):
    mine, other = ("ray-head", "ray-worker") if _is_head(host) else ("ray-worker", "ray-head")
    svc = host.service(mine)
    assert svc.is_running and svc.is_enabled
    assert not host.file(f"/etc/systemd/system/{other}.service").exists
    props = host.check_output(f"systemctl show {mine} -p User -p Restart -p ProtectSystem -p NoNewPrivileges "
                              f"-p PrivateTmp")
    assert "User=vllm" in props and "Restart=on-failure" in props
    assert "ProtectSystem=strict" in props and "NoNewPrivileges=yes" in props and "PrivateTmp=yes" in props


def test_ray_runs_as_the_vllm_user(host):
    users = host.check_output("ps -o user= -C raylet").split()
    assert users and set(users) == {"vllm"}


def test_env_file_is_root_0600_with_this_nodes_address(host):
    env_file = host.file("/etc/ray/ray.env")
    assert env_file.user == "root" and env_file.mode == 0o600
    env = _env_file(host)
    assert env["VLLM_HOST_IP"] == env["RAY_NODE_IP_ADDRESS"] == _ip(host)
    assert env["NCCL_SOCKET_IFNAME"] == env["GLOO_SOCKET_IFNAME"] == "eth0"


def test_unit_command_line(host):
    unit = host.file("/etc/systemd/system/%s.service" % ("ray-head" if _is_head(host) else "ray-worker"))
    text = unit.content_string
    assert f"--node-ip-address={_ip(host)}" in text and "--block" in text and "--num-gpus=0" in text
    if _is_head(host):
        assert "--head" in text and f"--port={PORT}" in text and "--dashboard-host=127.0.0.1" in text
        assert "--temp-dir=/var/lib/vllm/ray" in text
    else:
        assert f"--address={_head_ip()}:{PORT}" in text and "--head" not in text


def test_ports(host):
    ip = _ip(host)
    wanted = [6380, 6381] + ([PORT] if _is_head(host) else [])
    for port in wanted:
        assert host.socket(f"tcp://{ip}:{port}").is_listening or host.socket(f"tcp://0.0.0.0:{port}").is_listening, \
            port
    # the dashboard (when installed) stays on loopback: nothing on 8265 on the cluster address
    assert not host.socket(f"tcp://{ip}:8265").is_listening


def test_ray_status_lists_both_nodes_from_either_node(host):
    out = host.check_output(f"HOME=/var/lib/vllm {ENV}/bin/ray status --address {_head_ip()}:{PORT}")
    nodes = re.findall(r"^\s+1 node_[0-9a-f]+\s*$", out, re.M)
    assert len(nodes) == 2, out
    assert re.search(r"^\s+[0-9.]+/2\.0 CPU\s*$", out, re.M), out


def test_driver_on_the_head_places_work_on_both_nodes_with_their_environment(host):
    """As the vLLM service does: the vllm user, RAY_ADDRESS, the head's session directory."""
    if not _is_head(host):
        return
    script = (
        "import json, os, ray\n"
        "from ray.util.placement_group import placement_group\n"
        "from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy as S\n"
        "ray.init(logging_level='ERROR')\n"
        "pg = placement_group([{'CPU': 1}] * 2, strategy='STRICT_SPREAD')\n"
        "ray.get(pg.ready(), timeout=120)\n"
        "@ray.remote(num_cpus=1)\n"
        "def where():\n"
        "    return [ray.util.get_node_ip_address(), os.environ.get('VLLM_HOST_IP'),\n"
        "            os.environ.get('NCCL_SOCKET_IFNAME'), os.environ.get('HOME')]\n"
        "refs = [where.options(scheduling_strategy=S(placement_group=pg, placement_group_bundle_index=i)).remote()\n"
        "        for i in range(2)]\n"
        "print('RESULT ' + json.dumps(ray.get(refs, timeout=180)))\n"
    )
    host.check_output(f"install -o vllm -g vllm -m 0640 /dev/null /var/lib/vllm/place.py && "
                      f"cat > /var/lib/vllm/place.py <<'EOF'\n{script}EOF")
    out = host.check_output(f"cd /var/lib/vllm && runuser -u vllm -- env HOME=/var/lib/vllm "
                            f"RAY_ADDRESS={_head_ip()}:{PORT} {ENV}/bin/python place.py")
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    ips = sorted(r[0] for r in result)
    assert len(set(ips)) == 2, result
    for node_ip, vllm_host_ip, nccl, home in result:
        assert vllm_host_ip == node_ip  # every node's Ray workers see that node's own address
        assert nccl == "eth0" and home == "/var/lib/vllm"


def test_vllm_drop_in_on_the_head_only(host):
    dropin = host.file("/etc/systemd/system/vllm-tiny.service.d/ray.conf")
    if not _is_head(host):
        assert not dropin.exists
        return
    text = dropin.content_string
    assert "After=ray-head.service" in text and "Requires=ray-head.service" in text
    assert f"Environment=RAY_ADDRESS={_head_ip()}:{PORT}" in text
    assert "EnvironmentFile=/etc/ray/ray.env" in text and "ReadWritePaths=/var/lib/vllm/ray" in text
