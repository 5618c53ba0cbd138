# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import json

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _daemon_json as dj

# /etc/docker/daemon.json as seed 000 shows it (runtimes written by nvidia-ctk, mirrors typed by hand)
SEED_000 = {
    "runtimes": {"nvidia": {"args": [], "path": "nvidia-container-runtime"}},
    "registry-mirrors": [
        "https://dockerproxy.com", "https://mirror.baidubce.com", "https://docker.m.daocloud.io",
        "https://docker.nju.edu.cn", "https://docker.mirrors.sjtug.sjtu.edu.cn", "https://docker.mirrors.ustc.edu.cn",
        "https://mirror.iscas.ac.cn", "https://docker.rainbond.cc",
    ],
}
# seed 003: the one-mirror file written before the toolkit was installed
SEED_003 = {"registry-mirrors": ["https://docker.rainbond.cc"]}


def test_merge_keeps_keys_owned_by_others():
    existing = {"debug": True, "hosts": ["unix:///var/run/docker.sock"], "runtimes": {"kata": {"path": "kata-runtime"}}}
    ours = {"log-driver": "json-file", "log-opts": {"max-size": "100m", "max-file": "3"}}
    after = dj.merge(existing, ours)
    assert after["debug"] is True
    assert after["hosts"] == ["unix:///var/run/docker.sock"]
    assert after["runtimes"] == {"kata": {"path": "kata-runtime"}}
    assert after["log-opts"] == {"max-size": "100m", "max-file": "3"}
    assert existing == {"debug": True, "hosts": ["unix:///var/run/docker.sock"],
                        "runtimes": {"kata": {"path": "kata-runtime"}}}, "input must not be mutated"


def test_nvidia_runtime_added_next_to_existing_runtime():
    existing = {"runtimes": {"kata": {"path": "kata-runtime"}}, "default-runtime": "runc"}
    after = dj.merge(existing, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}})
    assert set(after["runtimes"]) == {"kata", "nvidia"}
    assert after["default-runtime"] == "runc"


@pytest.mark.parametrize("existing, ours, expected", [
    # seed 003 file + the seed 000 list: union, existing order first, no duplicates
    (SEED_003, {"registry-mirrors": SEED_000["registry-mirrors"]},
     ["https://docker.rainbond.cc"] + SEED_000["registry-mirrors"][:-1]),
    # trailing slash is the same mirror
    ({"registry-mirrors": ["https://mirror.example.com/"]}, {"registry-mirrors": ["https://mirror.example.com"]},
     ["https://mirror.example.com/"]),
    # nothing there yet
    ({}, {"registry-mirrors": ["https://a.example", "https://a.example"]}, ["https://a.example"]),
])
def test_registry_mirrors_merge_as_deduplicated_union(existing, ours, expected):
    assert dj.merge(existing, ours)["registry-mirrors"] == expected


def test_list_mode_replace_makes_our_list_win():
    after = dj.merge(SEED_000, {"registry-mirrors": ["https://mirror.internal.example"]}, list_mode="replace")
    assert after["registry-mirrors"] == ["https://mirror.internal.example"]
    assert after["runtimes"] == SEED_000["runtimes"]


def test_exec_opts_option_with_same_name_is_replaced():
    existing = {"exec-opts": ["native.cgroupdriver=cgroupfs", "isolation=default"]}
    after = dj.merge(existing, {"exec-opts": ["native.cgroupdriver=systemd"]})
    assert after["exec-opts"] == ["isolation=default", "native.cgroupdriver=systemd"]


def test_remove_deletes_only_the_named_path():
    existing = {"default-runtime": "nvidia", "runtimes": {"nvidia": {"path": "x"}, "kata": {"path": "k"}}}
    after = dj.merge(existing, {}, remove=["default-runtime", "runtimes.nvidia", "no.such.key"])
    assert after == {"runtimes": {"kata": {"path": "k"}}}


def test_plan_reports_no_change_when_only_formatting_differs():
    text = json.dumps(SEED_000)  # one line, different key order than we would write
    result = dj.plan(text, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}})
    assert result["changed"] is False
    assert result["changed_keys"] == []


def test_plan_on_missing_file_with_settings_changes_and_renders_json():
    result = dj.plan(None, {"registry-mirrors": ["https://mirror.example.com"]})
    assert result["changed"] is True
    assert result["changed_keys"] == ["registry-mirrors"]
    assert json.loads(result["text"]) == {"registry-mirrors": ["https://mirror.example.com"]}
    assert result["text"].endswith("\n")


def test_plan_on_missing_file_with_no_settings_is_not_a_change():
    assert dj.plan(None, {})["changed"] is False
    assert dj.plan("  \n", {})["changed"] is False


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON list, not an object"),
])
def test_unusable_existing_file_is_refused_not_overwritten(text, fragment):
    with pytest.raises(dj.DaemonJsonError, match=fragment):
        dj.plan(text, {"debug": True})


@pytest.mark.parametrize("ours, fragment", [
    ({"registry-mirrors": ["mirror.example.com"]}, "'mirror.example.com' is not an http(s) URL"),
    ({"registry-mirrors": ["ftp://mirror.example.com"]}, "is not an http(s) URL"),
    ({"registry-mirrors": ["https://registry.example.com/dockerhub"]}, "has a path"),
    ({"registry-mirrors": "https://mirror.example.com"}, "must be a list of strings"),
    ({"storage-driver": "overlay3"}, "unknown storage driver 'overlay3'"),
    ({"storage-driver": "aufs"}, "unknown storage driver 'aufs'"),
    ({"log-opts": {"max-file": 3}}, "must be a string"),
    ({"log-opts": {"max-size": "100MB"}}, "is not a size like"),
    ({"log-opts": {"max-file": "0"}}, "is not a whole number"),
    ({"log-driver": "jsonfile"}, "unknown log driver"),
    ({"data-root": "var/lib/docker"}, "is not an absolute path"),
    ({"exec-opts": ["native.cgroupdriver=system"]}, "cgroup driver 'system'"),
    ({"runtimes": {"nvidia": {"args": []}}}, "needs a 'path'"),
    ({"insecure-registries": ["not a host"]}, "is not a host[:port]"),
    ({"live-restore": "yes"}, "must be true or false"),
])
def test_invalid_settings_are_refused_with_the_key_named(ours, fragment):
    with pytest.raises(dj.DaemonJsonError) as err:
        dj.plan("{}", ours)
    assert fragment in str(err.value)
    assert f"'{next(iter(ours))}'" in str(err.value)


def test_error_names_the_users_variable_when_labelled():
    problems = dj.validate({"registry-mirrors": ["docker.m.daocloud.io"]},
                           labels={"registry-mirrors": "docker_registry_mirrors"})
    assert problems and problems[0].startswith("docker_registry_mirrors (daemon.json key 'registry-mirrors')[0]")


@pytest.mark.parametrize("ours", [
    {"registry-mirrors": SEED_000["registry-mirrors"]},
    {"registry-mirrors": ["http://10.0.0.5:5000", "https://mirror.example.com/"]},
    {"insecure-registries": ["10.0.0.5:5000", "10.0.0.0/8", "registry.local"]},
    {"storage-driver": "overlay2", "data-root": "/data/docker", "exec-opts": ["native.cgroupdriver=systemd"]},
    {"log-driver": "json-file", "log-opts": {"max-size": "100m", "max-file": "3"}},
    {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}, "default-runtime": "nvidia",
     "features": {"cdi": True}},
])
def test_valid_settings_pass(ours):
    assert dj.validate(ours) == []


def test_default_runtime_must_exist_after_merge():
    with pytest.raises(dj.DaemonJsonError, match="default-runtime 'nvidia' is not defined"):
        dj.plan("{}", {"default-runtime": "nvidia"})
    # defined by someone else already: fine
    assert dj.plan(json.dumps(SEED_000), {"default-runtime": "nvidia"})["changed"] is True
