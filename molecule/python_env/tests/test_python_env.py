"""The env exists and works, mirror config is where the role says, the conda path ran the installer once."""
import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")


def _is_conda(host):
    return host.backend.get_hostname().endswith("-conda")


def _env(host):
    return "/opt/miniforge3/envs/vllm" if _is_conda(host) else "/opt/llmops/venv"


def test_env_python_runs_with_pinned_version(host):
    want = "3.11" if _is_conda(host) else "3.13"
    out = host.check_output(f"{_env(host)}/bin/python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert out.strip() == want


def test_env_pip_uses_its_own_config(host):
    conf = host.file(f"{_env(host)}/pip.conf")
    assert conf.exists and conf.mode == 0o644
    text = conf.content_string
    if _is_conda(host):
        assert "index-url = https://pypi.tuna.tsinghua.edu.cn/simple" in text
    else:
        assert "index-url = https://pypi.org/simple" in text
        assert "find-links = /opt/llmops/wheelhouse" in text
    # pip inside the env really reads it
    out = host.check_output(f"PIP_CONFIG_FILE={_env(host)}/pip.conf {_env(host)}/bin/python -m pip config list")
    assert "global.index-url" in out


def test_conda_installed_once_with_mirror_condarc(host):
    if not _is_conda(host):
        assert not host.file("/opt/miniforge3").exists
        return
    calls = host.file("/opt/miniforge3/conda-calls.log").content_string.splitlines()
    assert calls.count("installer -b -p /opt/miniforge3") == 1
    creates = [c for c in calls if c.startswith("conda create")]
    assert creates == ["conda create --yes --quiet --prefix /opt/miniforge3/envs/vllm python=3.11"]
    assert sum(c.startswith("conda tos accept") for c in calls) >= 2
    condarc = host.file("/opt/miniforge3/.condarc").content_string
    assert "channel_alias: https://mirrors.tuna.tsinghua.edu.cn/anaconda" in condarc
    assert "- conda-forge" in condarc and "- defaults" in condarc
