# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real state after the docker role: packages, service, daemon.json merged, dockerd using it, a container runs."""
import json
import re


def test_docker_and_compose_v2_installed(host):
    assert host.package("docker.io").is_installed
    assert host.package("docker-compose").is_installed
    version = host.check_output("docker compose version --short").strip()
    major, minor = (int(x) for x in re.match(r"v?(\d+)\.(\d+)", version).groups())
    assert (major, minor) >= (2, 24), version


def test_service_enabled_and_running(host):
    docker = host.service("docker")
    assert docker.is_enabled and docker.is_running


def test_daemon_json_merged_foreign_keys_survive(host):
    f = host.file("/etc/docker/daemon.json")
    assert f.mode == 0o644 and f.user == "root"
    data = json.loads(f.content_string)
    assert data["debug"] is True and data["labels"] == ["owner=admin"]
    assert data["registry-mirrors"] == ["https://mirror.example.com/"]  # already there: not duplicated
    assert data["storage-driver"] == "vfs"
    assert data["log-driver"] == "json-file"
    assert data["log-opts"] == {"max-size": "50m", "max-file": "3"}


def test_a_backup_of_the_admins_file_was_kept(host):
    backups = host.check_output("ls /etc/docker/ | grep -c '^daemon.json\\..*~$' || true").strip()
    assert int(backups) >= 1


def test_dockerd_runs_with_the_merged_settings(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["Driver"] == "vfs"
    assert "https://mirror.example.com/" in info["RegistryConfig"]["Mirrors"]
    assert info["Debug"] is True
    assert "owner=admin" in info["Labels"]


def test_user_in_docker_group(host):
    assert "docker" in host.user("ops").groups


def test_a_container_runs_nested(host):
    host.check_output("rm -rf /tmp/bb && mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/")
    host.check_output("tar -C /tmp/bb -c . | docker import - llmops/busybox:local")
    # --network none: the nested bridge cannot configure IPv6 on the veth (read-only /proc/sys in the container)
    out = host.check_output("docker run --rm --network none llmops/busybox:local /bin/busybox echo nested-ok")
    assert out.strip() == "nested-ok"


def test_nvidia_runtime_merged_without_default_runtime(host):
    data = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert data["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    assert "default-runtime" not in data
    assert data["debug"] is True and data["storage-driver"] == "vfs"  # still there after the second merge
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert "nvidia" in info["Runtimes"]
    assert info["DefaultRuntime"] == "runc"
