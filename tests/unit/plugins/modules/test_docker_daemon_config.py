# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import grp
import json
import os
import pwd
import stat

import pytest

from ansible_collections.llmops.vllm_stack.plugins.modules import docker_daemon_config

from ansible_module_runner import run_module as _run

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def run_module(args, check_mode=False, diff=False):
    args = dict(args, owner=args.get("owner", ME), group=args.get("group", MY_GROUP))
    return _run(docker_daemon_config.main, args, check_mode=check_mode, diff=diff)


@pytest.fixture
def daemon_json(tmp_path):
    path = tmp_path / "docker" / "daemon.json"
    path.parent.mkdir()
    # a key the admin owns, and a runtime another tool wrote
    path.write_text('{"debug": true, "runtimes": {"kata": {"path": "kata-runtime"}}}')
    os.chmod(path, 0o644)
    return path


MIRRORS = {"registry-mirrors": ["https://mirror.example.com"], "log-opts": {"max-size": "100m", "max-file": "3"}}


def test_merge_writes_once_then_reports_unchanged(daemon_json):
    first = run_module({"path": str(daemon_json), "config": MIRRORS})
    assert first["changed"] is True
    assert first["changed_keys"] == ["registry-mirrors", "log-opts"]
    on_disk = json.loads(daemon_json.read_text())
    assert on_disk["debug"] is True and on_disk["runtimes"]["kata"]["path"] == "kata-runtime"
    assert on_disk["registry-mirrors"] == ["https://mirror.example.com"]
    mtime = daemon_json.stat().st_mtime_ns
    second = run_module({"path": str(daemon_json), "config": MIRRORS})
    assert second["changed"] is False
    assert daemon_json.stat().st_mtime_ns == mtime


def test_check_mode_reports_change_and_diff_but_writes_nothing(daemon_json):
    before = daemon_json.read_text()
    result = run_module({"path": str(daemon_json), "config": MIRRORS}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert daemon_json.read_text() == before
    assert json.loads(result["diff"]["after"])["registry-mirrors"] == ["https://mirror.example.com"]
    assert result["diff"]["before"] == before


def test_missing_file_and_directory_are_created_0644(tmp_path):
    path = tmp_path / "etc-docker" / "daemon.json"
    result = run_module({"path": str(path), "config": {"storage-driver": "vfs"}})
    assert result["changed"] is True
    assert json.loads(path.read_text()) == {"storage-driver": "vfs"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_mode_drift_alone_is_a_change(daemon_json):
    run_module({"path": str(daemon_json), "config": MIRRORS})
    os.chmod(daemon_json, 0o600)
    result = run_module({"path": str(daemon_json), "config": MIRRORS})
    assert result["changed"] is True
    assert stat.S_IMODE(daemon_json.stat().st_mode) == 0o644


def test_backup_keeps_the_previous_file(daemon_json):
    before = daemon_json.read_text()
    result = run_module({"path": str(daemon_json), "config": MIRRORS, "backup": True})
    assert result["backup_file"] and open(result["backup_file"]).read() == before


def test_invalid_mirror_fails_naming_the_variable_and_changes_nothing(daemon_json):
    before = daemon_json.read_text()
    result = run_module({"path": str(daemon_json), "config": {"registry-mirrors": ["docker.m.daocloud.io"]},
                         "labels": {"registry-mirrors": "docker_registry_mirrors"}})
    assert result["failed"] is True
    assert "docker_registry_mirrors" in result["msg"] and "docker.m.daocloud.io" in result["msg"]
    assert daemon_json.read_text() == before


def test_corrupt_existing_file_is_not_overwritten(daemon_json):
    daemon_json.write_text('{"debug": true,,}')
    result = run_module({"path": str(daemon_json), "config": MIRRORS})
    assert result["failed"] is True and "not valid JSON" in result["msg"]
    assert daemon_json.read_text() == '{"debug": true,,}'


def test_remove_default_runtime(daemon_json):
    daemon_json.write_text(json.dumps({"default-runtime": "nvidia",
                                       "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}}))
    result = run_module({"path": str(daemon_json), "remove": ["default-runtime"]})
    assert result["changed"] is True and result["changed_keys"] == ["default-runtime"]
    assert "default-runtime" not in json.loads(daemon_json.read_text())
