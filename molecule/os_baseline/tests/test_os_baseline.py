"""Real state after the os_baseline role: mirrors, packages, chrony, sysctl file, limits, hosts, firewall."""
import os

import pytest

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")


def _release(host):
    return host.system_info.codename


def test_deb822_sources_point_at_the_profile_mirror(host):
    f = host.file("/etc/apt/sources.list.d/debian.sources")
    assert f.exists and f.mode == 0o644 and f.user == "root"
    content = f.content_string
    assert "URIs: http://deb.debian.org/debian\n" in content
    assert "URIs: http://deb.debian.org/debian-security\n" in content
    rel = _release(host)
    assert f"Suites: {rel} {rel}-updates\n" in content
    assert f"Suites: {rel}-security\n" in content
    assert "Components: main contrib non-free non-free-firmware" in content
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in content


def test_old_sources_list_kept_as_backup_not_deleted(host):
    assert not host.file("/etc/apt/sources.list").exists
    assert host.file("/etc/apt/sources.list.llmops-orig").exists


def test_apt_uses_the_new_sources(host):
    out = host.check_output("apt-get indextargets --format '$(SITE) $(RELEASE)'")
    assert "http://deb.debian.org/debian" in out
    assert "-security" in out


def test_base_packages_installed(host):
    for name in ("build-essential", "pciutils", "curl", "git", "jq", "chrony", "less", "python3-venv"):
        assert host.package(name).is_installed, name


def test_chrony_running_and_configured(host):
    svc = host.service("chrony")
    assert svc.is_enabled
    assert svc.is_running
    conf = host.file("/etc/chrony/chrony.conf").content_string
    assert "pool 2.debian.pool.ntp.org iburst" in conf
    # inside a container chronyd must not try to step the host clock
    assert '-x"' in host.file("/etc/default/chrony").content_string
    assert host.run("chronyc -n tracking").rc == 0


def test_timezone_set(host):
    assert host.file("/etc/localtime").linked_to.endswith("Asia/Shanghai")


def test_sysctl_file(host):
    f = host.file("/etc/sysctl.d/90-llmops-vllm-stack.conf")
    assert f.exists and f.mode == 0o644
    assert "vm.max_map_count=262144" in f.content_string
    assert "net.core.somaxconn=4096" in f.content_string


def test_limits_file(host):
    f = host.file("/etc/security/limits.d/90-llmops-vllm-stack.conf")
    assert f.exists
    lines = [line.split() for line in f.content_string.splitlines() if line and not line.startswith("#")]
    assert ["*", "-", "nofile", "1048576"] in lines
    assert ["*", "-", "memlock", "unlimited"] in lines


def test_hosts_entry(host):
    assert "10.99.0.10 gpu-node-1.example.internal gpu-node-1" in host.file("/etc/hosts").content_string


def test_firewall_rules_for_stack_ports_only_where_ufw_exists(host):
    if not host.exists("ufw"):
        pytest.skip("no ufw on this instance (the debian13 instance covers the no-firewall path)")
    rules = host.file("/etc/ufw/user.rules").content_string
    for port in ("8000", "8001", "80", "443"):
        assert f"### tuple ### allow tcp {port} 0.0.0.0/0 any 0.0.0.0/0 in" in rules, port
    assert "8002" not in rules
