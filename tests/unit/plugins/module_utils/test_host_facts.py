# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host_facts module_utils against recorded /proc and /sys trees (tests/unit/fixtures/host_facts/<sample>)."""

from __future__ import annotations

import json
import re
import os
from pathlib import Path

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import host_facts as hf

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "host_facts"
GIB = 1024 ** 3


def sample(name):
    return str(FIXTURES / name)


def write_tree(root, files):
    """Create ``files`` ({path below root: contents}) under ``root`` and return root as a string."""
    for path, text in files.items():
        target = Path(root) / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return str(root)


# --- whole samples -------------------------------------------------------------------------------

EXPECTED = {
    "modern_v2_unlimited": dict(
        avx2=True, cpu_model="AMD EPYC 7313 16-Core Processor", vcpus_online=4, vcpus_usable=4.0,
        cpu_quota_cores=None, cgroup_version=2, clock_mhz=3729, clock_source="cpufreq",
        memory_total_mb=64252, memory_available_mb=59392, memory_limit_mb=None, memory_usable_mb=64252,
    ),
    "old_xeon_no_avx2": dict(
        avx2=False, cpu_model="Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", vcpus_online=2, vcpus_usable=2.0,
        cpu_quota_cores=None, cgroup_version=2, clock_mhz=2600, clock_source="cpuinfo",
        memory_total_mb=7975, memory_available_mb=7168, memory_limit_mb=None, memory_usable_mb=7975,
    ),
    # Container 1.5 CPUs / 2 GiB under a slice of 4 CPUs / 8 GiB: the container's own limits win.
    # Available: 2048 MiB - (1024 MiB used - 128 MiB inactive cache) = 1152 MiB, below the slice's headroom.
    "v2_limited_container": dict(
        avx2=True, cpu_model="Intel(R) Xeon(R) Gold 6126 CPU @ 2.60GHz", vcpus_online=8, vcpus_usable=1.5,
        cpu_quota_cores=1.5, cgroup_version=2, clock_mhz=2600, clock_source="cpuinfo",
        memory_total_mb=15947, memory_available_mb=1152, memory_limit_mb=2048, memory_usable_mb=2048,
    ),
    # 1024 MiB - (500 MiB used - 100 MiB inactive cache) = 624 MiB available.
    "v1_limited_container": dict(
        avx2=True, vcpus_online=4, vcpus_usable=2.0, cpu_quota_cores=2.0, cgroup_version=1,
        memory_total_mb=15947, memory_available_mb=624, memory_limit_mb=1024, memory_usable_mb=1024,
    ),
    "clock_model_name_only": dict(
        avx2=True, vcpus_online=2, vcpus_usable=2.0, cpu_quota_cores=None, cgroup_version=None,
        clock_mhz=2600, clock_source="model_name", memory_limit_mb=None, memory_usable_mb=3936,
    ),
    "arm64_no_clock": dict(
        avx2=False, cpu_model=None, vcpus_online=4, vcpus_usable=4.0, cgroup_version=None,
        clock_mhz=None, clock_source="unknown",
    ),
    # This sandbox VM as recorded: cgroup v1 hybrid, memory cgroup at the "unlimited" sentinel, no GHz anywhere.
    "sandbox_vm_v1_hybrid": dict(
        avx2=True, cpu_model="Intel(R) Xeon(R) Processor", vcpus_online=2, vcpus_usable=2.0,
        cpu_quota_cores=None, cgroup_version=1, clock_mhz=2000, clock_source="cpuinfo",
        memory_limit_mb=None,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_facts(name):
    facts = hf.cpu_facts(sample(name))
    facts.update(hf.memory_facts(sample(name)))
    assert {key: facts[key] for key in EXPECTED[name]} == EXPECTED[name]


def test_all_samples_are_checked():
    assert sorted(EXPECTED) == sorted(os.listdir(str(FIXTURES)))


def test_flags_are_sorted_unique_and_without_avx2_on_sandy_bridge():
    flags = hf.cpu_facts(sample("old_xeon_no_avx2"))["cpu_flags"]
    assert flags == sorted(set(flags))
    assert "avx" in flags and "avx2" not in flags


def test_arm64_features_are_its_flags():
    flags = hf.cpu_facts(sample("arm64_no_clock"))["cpu_flags"]
    assert "asimd" in flags and "avx2" not in flags


def test_sandbox_memory_limit_sentinel_is_not_a_limit():
    root = sample("sandbox_vm_v1_hybrid")
    memory = hf.memory_facts(root)
    assert memory["memory_usable_mb"] == memory["memory_total_mb"]
    assert memory["memory_available_mb"] <= memory["memory_total_mb"]


def test_affinity_replaces_the_cpuset_and_the_quota_still_caps_it():
    root = sample("v2_limited_container")
    assert hf.cpu_facts(root, allowed_cpus=1)["vcpus_usable"] == 1.0
    assert hf.cpu_facts(root, allowed_cpus=6)["vcpus_usable"] == 1.5


def test_gather_host_facts_merges_cpu_memory_and_disk(tmp_path):
    facts = hf.gather_host_facts(sample("v2_limited_container"), data_root=str(tmp_path / "docker"))
    assert facts["vcpus_usable"] == 1.5
    assert facts["memory_usable_mb"] == 2048
    assert facts["disk_path"] == str(tmp_path)


# --- cgroup walking ------------------------------------------------------------------------------

def test_v2_parent_tighter_than_container_wins(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "0::/limits.slice/docker-abc.scope\n",
        "/proc/meminfo": "MemTotal: 16777216 kB\nMemAvailable: 15728640 kB\n",
        "/sys/fs/cgroup/limits.slice/cpu.max": "50000 100000\n",
        "/sys/fs/cgroup/limits.slice/memory.max": "%d\n" % GIB,
        "/sys/fs/cgroup/limits.slice/memory.current": "%d\n" % (GIB // 4),
        "/sys/fs/cgroup/limits.slice/docker-abc.scope/cpu.max": "max 100000\n",
        "/sys/fs/cgroup/limits.slice/docker-abc.scope/memory.max": "%d\n" % (2 * GIB),
        "/sys/fs/cgroup/limits.slice/docker-abc.scope/memory.current": "%d\n" % (GIB // 4),
        "/sys/devices/system/cpu/online": "0-3\n",
    })
    cpu, memory = hf.cpu_facts(root), hf.memory_facts(root)
    assert (cpu["cpu_quota_cores"], cpu["vcpus_usable"]) == (0.5, 0.5)
    assert (memory["memory_limit_mb"], memory["memory_usable_mb"], memory["memory_available_mb"]) == (1024, 1024, 768)


def test_cpuset_narrower_than_quota_wins(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "0::/pinned\n",
        "/sys/fs/cgroup/pinned/cpu.max": "300000 100000\n",
        "/sys/fs/cgroup/pinned/cpuset.cpus.effective": "2-3\n",
        "/sys/devices/system/cpu/online": "0-7\n",
    })
    facts = hf.cpu_facts(root)
    assert (facts["vcpus_online"], facts["cpu_quota_cores"], facts["vcpus_usable"]) == (8, 3.0, 2.0)


def test_cpuset_is_read_from_the_nearest_cgroup_that_has_one(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "0::/a/b\n",
        "/sys/fs/cgroup/cpuset.cpus.effective": "0-15\n",
        "/sys/fs/cgroup/a/cpuset.cpus.effective": "0-5\n",
        "/sys/fs/cgroup/a/b/cpu.max": "max 100000\n",
    })
    assert hf.cpu_facts(root)["vcpus_usable"] == 6.0


def test_v1_cgroupns_host_walks_full_path_and_ignores_unlimited_parent(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        "/proc/meminfo": "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu/docker/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/docker/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us": "50000\n",
        "/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us": "20000\n",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes": "9223372036854771712\n",
        "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "%d\n" % (3 * GIB),
        "/sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": "%d\n" % GIB,
        "/sys/devices/system/cpu/online": "0-3\n",
    })
    cpu, memory = hf.cpu_facts(root), hf.memory_facts(root)
    assert (cpu["cgroup_version"], cpu["cpu_quota_cores"], cpu["vcpus_usable"]) == (1, 2.5, 2.5)
    assert (memory["memory_limit_mb"], memory["memory_available_mb"]) == (3072, 2048)


def test_cgroup_path_missing_under_its_mount_falls_back_to_the_mount_point(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "0::/not/visible/here\n",
        "/sys/fs/cgroup/cpu.max": "250000 100000\n",
    })
    memberships = hf.parse_proc_cgroup("0::/not/visible/here\n")
    assert hf.cgroup_dirs(root, "cpu", memberships, []) == [os.path.join(root, "sys/fs/cgroup")]
    assert hf.cpu_facts(root)["cpu_quota_cores"] == 2.5


def test_cgroup_path_cannot_escape_its_mount(tmp_path):
    (tmp_path / "sys" / "fs" / "cgroup").mkdir(parents=True)
    memberships = hf.parse_proc_cgroup("0::/../../../etc\n")
    assert hf.cgroup_dirs(str(tmp_path), "memory", memberships, []) == [str(tmp_path / "sys" / "fs" / "cgroup")]


def test_v1_container_mount_root_is_stripped():
    root = sample("v1_limited_container")
    cgroups = hf.CgroupView(root)
    leaf = hf.cgroup_dirs(root, "cpu", cgroups.memberships, cgroups.mounts)[0]
    assert leaf == os.path.join(root, "sys/fs/cgroup/cpu,cpuacct")


def test_v1_nested_cgroup_inside_a_container_mount_is_walked_to_the_container(tmp_path):
    # systemd inside a v1 container: our path continues below the container's cgroup, the mount's root.
    root = write_tree(tmp_path, {
        "/proc/self/cgroup": "3:cpu,cpuacct:/docker/x/system.slice/ssh.service\n",
        "/proc/self/mountinfo": "702 700 0:35 /docker/x /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n",
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
        "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/cpu.cfs_quota_us": "100000\n",
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/ssh.service/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu,cpuacct/system.slice/ssh.service/cpu.cfs_period_us": "100000\n",
    })
    cgroups = hf.CgroupView(root)
    top = os.path.join(root, "sys/fs/cgroup/cpu,cpuacct")
    assert hf.cgroup_dirs(root, "cpu", cgroups.memberships, cgroups.mounts) == [
        os.path.join(top, "system.slice/ssh.service"), os.path.join(top, "system.slice"), top,
    ]
    assert cgroups.cpu_quota_cores() == 1.0


def test_cgroup_version_detection():
    assert hf.cgroup_version(hf.parse_proc_cgroup("0::/\n")) == 2
    assert hf.cgroup_version(hf.parse_proc_cgroup("4:memory:/\n1:name=systemd:/\n0::/\n")) == 1
    assert hf.cgroup_version(hf.parse_proc_cgroup("1:name=systemd:/\n")) is None
    assert hf.cgroup_version([]) is None


def test_mountinfo_parsing_unescapes_and_keeps_only_cgroups():
    mounts = hf.parse_cgroup_mounts(
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "41 31 0:38 /docker/x /my\\040cgroups/cpu,cpuacct rw shared:1 master:2 - cgroup cgroup rw,cpu,cpuacct\n"
        "42 31 0:39 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "garbage line\n"
    )
    assert mounts == [
        hf.CgroupMount("/docker/x", "/my cgroups/cpu,cpuacct", "cgroup", ("rw", "cpu", "cpuacct")),
        hf.CgroupMount("/", "/sys/fs/cgroup", "cgroup2", ("rw", "nsdelegate")),
    ]


# --- parsers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, count", [
    ("0-3,8,10-11\n", 7), ("0\n", 1), ("0-127", 128), ("", None), (None, None), ("zero-one", None),
])
def test_count_cpu_list(text, count):
    assert hf.count_cpu_list(text) == count


@pytest.mark.parametrize("text, cores", [
    ("150000 100000\n", 1.5), ("max 100000\n", None), ("200000 50000", 4.0), ("", None), (None, None),
    ("lots 100000", None), ("100000", None), ("100000 0", None),
])
def test_parse_cpu_max(text, cores):
    assert hf.parse_cpu_max(text) == cores


@pytest.mark.parametrize("quota, period, cores", [
    ("-1\n", "100000\n", None), ("50000\n", "100000\n", 0.5), (None, "100000", None), ("1", "", None),
])
def test_cfs_quota_cores(quota, period, cores):
    assert hf.cfs_quota_cores(quota, period) == cores


@pytest.mark.parametrize("text, total, limit", [
    ("max\n", None, None),
    ("9223372036854771712\n", None, None),
    ("%d\n" % (2 ** 60), None, None),
    ("%d\n" % (2 * GIB), 16 * GIB, 2 * GIB),
    ("%d\n" % (16 * GIB), 16 * GIB, None),
    ("%d\n" % (32 * GIB), 16 * GIB, None),
    ("", None, None),
    ("0", None, None),
])
def test_parse_memory_limit(text, total, limit):
    assert hf.parse_memory_limit(text, total) == limit


def test_parse_meminfo_bytes():
    values = hf.parse_meminfo_bytes("MemTotal:       2048 kB\nHugePages_Total:       4\nBroken line\nMemFree: x kB\n")
    assert values == {"MemTotal": 2048 * 1024, "HugePages_Total": 4}


@pytest.mark.parametrize("cpuinfo, mhz", [
    ("cpu MHz\t\t: 1796.212\ncpu MHz\t\t: 3000.000\n", 3000),
    ("cpu MHz\t\t: fast\n", None),
    ("model name\t: x\n", None),
])
def test_parse_max_cpu_mhz(cpuinfo, mhz):
    assert hf.parse_max_cpu_mhz(cpuinfo) == mhz


@pytest.mark.parametrize("model, mhz", [
    ("Intel(R) Xeon(R) Gold 6126 CPU @ 2.60GHz", 2600),
    ("Intel(R) Core(TM) i7-4770 CPU @ 3.4GHz", 3400),
    ("Intel(R) Xeon(R) Processor", None),
    ("AMD EPYC 7313 16-Core Processor", None),
    (None, None),
])
def test_parse_model_name_mhz(model, mhz):
    assert hf.parse_model_name_mhz(model) == mhz


def test_cpufreq_takes_the_fastest_cpu_and_skips_garbage(tmp_path):
    root = write_tree(tmp_path, {
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "2400000\n",
        "/sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq": "3100000\n",
        "/sys/devices/system/cpu/cpu2/cpufreq/cpuinfo_max_freq": "unknown\n",
    })
    assert hf.read_max_cpufreq_mhz(root) == 3100
    assert hf.clock_facts(root, "cpu MHz\t: 800.000\n") == {"clock_mhz": 3100, "clock_source": "cpufreq"}


@pytest.mark.parametrize("output, version", [
    ("Docker version 20.10.24+dfsg1, build 5d6db84\n", "20.10.24+dfsg1"),
    ("Docker version 28.2.2, build e6534b4\n", "28.2.2"),
    ("dockerd: command not found\n", None),
    (None, None),
])
def test_parse_dockerd_version(output, version):
    assert hf.parse_dockerd_version(output) == version


@pytest.mark.parametrize("output, version", [
    ("gst-launch-1.0 version 1.22.0\nGStreamer 1.22.0\nhttps://tracker.debian.org/pkg/gstreamer1.0\n", "1.22.0"),
    ("gst-inspect-1.0 version 1.16.3\nGStreamer 1.16.3\nhttps://launchpad.net/distros/ubuntu/+source/gstreamer1.0\n", "1.16.3"),
    ("gst-launch-1.0 version 1.22.0\n", None),
    (None, None),
])
def test_parse_gstreamer_version(output, version):
    assert hf.parse_gstreamer_version(output) == version


# --- Docker data root and disk -------------------------------------------------------------------

def test_data_root_from_daemon_json():
    assert hf.docker_data_root(sample("modern_v2_unlimited")) == "/srv/docker"


def test_data_root_defaults_without_daemon_json():
    assert hf.docker_data_root(sample("old_xeon_no_avx2")) == "/var/lib/docker"


@pytest.mark.parametrize("text", ['{"log-driver": "json-file"}', "{not json", "[]", '{"data-root": ""}', '{"data-root": 42}', ""])
def test_daemon_json_without_a_usable_data_root(text):
    assert hf.parse_daemon_json_data_root(text) is None


def test_nearest_existing_ancestor(tmp_path):
    assert hf.nearest_existing_ancestor(str(tmp_path / "var" / "lib" / "docker")) == str(tmp_path)
    (tmp_path / "var" / "lib").mkdir(parents=True)
    assert hf.nearest_existing_ancestor(str(tmp_path / "var" / "lib" / "docker")) == str(tmp_path / "var" / "lib")
    (tmp_path / "var" / "lib" / "docker").mkdir()
    assert hf.nearest_existing_ancestor(str(tmp_path / "var" / "lib" / "docker")) == str(tmp_path / "var" / "lib" / "docker")


def test_disk_facts_measure_the_nearest_existing_ancestor(tmp_path):
    data_root = str(tmp_path / "srv" / "docker")
    facts = hf.disk_facts(data_root)
    stats = os.statvfs(str(tmp_path))
    assert facts["docker_data_root"] == data_root
    assert facts["disk_path"] == str(tmp_path)
    assert facts["disk_total_mb"] == stats.f_blocks * stats.f_frsize // (1024 * 1024)
    assert 0 <= facts["disk_free_mb"] <= facts["disk_total_mb"]


def test_disk_facts_fail_soft(tmp_path, monkeypatch):
    def refuse(path):
        raise PermissionError(path)

    monkeypatch.setattr(hf.os, "statvfs", refuse)
    facts = hf.disk_facts(str(tmp_path))
    assert (facts["disk_free_mb"], facts["disk_total_mb"], facts["disk_path"]) == (None, None, str(tmp_path))


# --- failing soft --------------------------------------------------------------------------------

def test_empty_root_yields_nulls_not_tracebacks(tmp_path):
    facts = hf.cpu_facts(str(tmp_path))
    facts.update(hf.memory_facts(str(tmp_path)))
    assert facts == {
        "cpu_flags": [], "avx2": False, "cpu_model": None, "vcpus_online": None, "vcpus_usable": None,
        "cpu_quota_cores": None, "cgroup_version": None, "clock_mhz": None, "clock_source": "unknown",
        "memory_total_mb": None, "memory_available_mb": None, "memory_limit_mb": None, "memory_usable_mb": None,
    }


def test_garbled_and_unreadable_files_yield_nulls(tmp_path):
    root = write_tree(tmp_path, {
        "/proc/cpuinfo": "\x00\x01 nothing useful\n",
        "/proc/meminfo": "MemTotal: lots\n",
        "/proc/self/cgroup": "0::/c\n",
        "/sys/fs/cgroup/c/cpu.max": "garbage\n",
        "/sys/fs/cgroup/c/memory.max": "\n",
        "/sys/fs/cgroup/c/memory.current": "many\n",
    })
    # A directory where a file is expected cannot be read, whoever runs the test.
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "online").mkdir(parents=True)
    facts = hf.cpu_facts(root)
    facts.update(hf.memory_facts(root))
    assert facts["vcpus_online"] is None
    assert facts["cpu_quota_cores"] is None
    assert facts["memory_total_mb"] is None and facts["memory_limit_mb"] is None
    assert facts["cgroup_version"] == 2


def test_read_text_returns_none_for_unreadable_paths(tmp_path):
    (tmp_path / "adir").mkdir()
    assert hf.read_text(str(tmp_path), "/adir") is None
    assert hf.read_text(str(tmp_path), "/missing") is None


def test_memory_working_set_without_stat_uses_usage(tmp_path):
    root = write_tree(tmp_path, {"/memory.current": "1000\n"})
    assert hf.memory_working_set(root, 2) == 1000


def test_affinity_cpu_count_is_positive_or_unknown():
    count = hf.affinity_cpu_count()
    assert count is None or count >= 1


# --- ports and our containers --------------------------------------------------------------------

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:13EC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:9C40 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""


def inspect_entry(name, labels, host_ports, running=True):
    return {
        "Name": "/" + name,
        "Config": {"Labels": labels},
        "State": {"Running": running},
        "HostConfig": {"PortBindings": {"5000/tcp": [{"HostIp": "", "HostPort": str(port)} for port in host_ports]}},
    }


def test_listening_ports_keeps_only_listen_state():
    assert hf.parse_listening_ports(PROC_NET_TCP) == [22, 5100]


def test_listening_ports_of_garbage_is_empty():
    assert hf.parse_listening_ports("header\nnot a table row\n") == []
    assert hf.parse_listening_ports(None) == []


def test_container_facts_separates_ours_from_others():
    ours = inspect_entry("speech-stt-1", {
        "speechops.managed": "true", "speechops.service": "stt", "speechops.kind": "speech-to-text",
        "speechops.replica": "1", "speechops.host_port": "5100", "speechops.plan_hash": "abc",
        "speechops.image": "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us",
    }, [5100], running=False)
    other = inspect_entry("someone-elses", {"app": "x"}, [5101])
    facts = hf.container_facts(json.dumps([ours, other]), listening=[22, 5100])
    assert facts["containers"] == [{
        "name": "speech-stt-1", "service": "stt", "kind": "speech-to-text", "replica": "1",
        "image": "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us",
        "plan_hash": "abc", "run_hash": None, "host_port": 5100, "running": False,
        "image_id": None, "cpus": None, "memory_mb": None, "restart_policy": None,
    }]
    # Our own port is not "in use by something else"; the other container's binding is, even unpublished.
    assert facts["ports_in_use"] == [22, 5101]


def test_container_facts_without_docker():
    assert hf.container_facts(None, listening=[22]) == {"containers": [], "containers_listed": False, "ports_in_use": [22]}
    assert hf.container_facts("not json", listening=[]) == {"containers": [], "containers_listed": False, "ports_in_use": []}


def test_container_facts_of_a_host_without_containers_are_a_listing():
    assert hf.container_facts("[]", listening=[]) == {"containers": [], "containers_listed": True, "ports_in_use": []}


# --- operating system ----------------------------------------------------------------------------

@pytest.mark.parametrize("os_release, expected", [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
     {"id": "debian", "version_id": "12", "codename": "bookworm", "family": "Debian"}),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n',
     {"id": "ubuntu", "version_id": "24.04", "codename": "noble", "family": "Debian"}),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
     {"id": "rocky", "version_id": "9.4", "codename": None, "family": "RedHat"}),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n',
     {"id": "linuxmint", "version_id": "21.3", "codename": None, "family": "Debian"}),
    ('ID=alpine\nVERSION_ID=3.20.0\n', {"id": "alpine", "version_id": "3.20.0", "codename": None, "family": None}),
    (None, {"id": None, "version_id": None, "codename": None, "family": None}),
])
def test_parse_os_release(os_release, expected):
    assert hf.parse_os_release(os_release) == expected


def test_parse_image_list_gives_tags_and_digests_and_skips_dangling_images():
    output = ("registry.example.com/speech-to-text\t5.1.0-amd64-en-us\tsha256:aa\n"
              "registry.example.com/speech-to-text\t<none>\tsha256:bb\n"
              "<none>\t<none>\tsha256:cc\n"
              "registry.example.com/language-detection\tlatest\t<none>\n")
    assert hf.parse_image_list(output) == [
        "registry.example.com/language-detection:latest",
        "registry.example.com/speech-to-text:5.1.0-amd64-en-us",
        "registry.example.com/speech-to-text@sha256:aa",
        "registry.example.com/speech-to-text@sha256:bb",
    ]


def test_parse_image_list_keeps_unknown_apart_from_empty():
    assert hf.parse_image_list(None) is None
    assert hf.parse_image_list("") == []


def test_parse_dpkg_status_reports_only_installed_packages_asked_for():
    status = ("Package: docker.io\nStatus: install ok installed\nVersion: 20.10.24\nDescription: x\n more: text\n\n"
              "Package: haproxy\nStatus: deinstall ok config-files\nVersion: 2.6\n\n"
              "Package: gstreamer1.0-tools\nStatus: install ok half-configured\nVersion: 1.22\n\n"
              "Package: vim\nStatus: install ok installed\nVersion: 9.0\n")
    assert hf.parse_dpkg_status(status, ["docker.io", "haproxy", "gstreamer1.0-tools", "python3-requests"]) == {
        "docker.io": "20.10.24"}
    assert hf.parse_dpkg_status(None, ["docker.io"]) is None


def test_parse_rpm_query_skips_packages_that_are_not_installed():
    assert hf.parse_rpm_query("haproxy\t2.4.22-3.el9\npackage moby-engine is not installed\n") == {"haproxy": "2.4.22-3.el9"}
    assert hf.parse_rpm_query(None) is None


def test_role_packages_cover_every_package_a_role_installs():
    """The roles skip their package task when host_facts reports all of theirs installed: a package a role
    installs but host_facts does not look up would make that role call the package manager on every run."""
    import yaml
    roles = Path(__file__).resolve().parents[4] / "roles"
    installed = set(yaml.safe_load((roles / "loadbalancer" / "defaults" / "main.yml").read_text())["loadbalancer_packages"])
    for vars_file in roles.glob("*/vars/*.yml"):
        for name, value in (yaml.safe_load(vars_file.read_text()) or {}).items():
            if name.endswith("_packages") and isinstance(value, (list, dict)):
                values = value.values() if isinstance(value, dict) else [value]
                installed.update(package for group in values for package in group)
            elif name.endswith("_packages") and isinstance(value, str):  # a list literal inside an expression
                installed.update(re.findall(r"'([a-z0-9][a-z0-9.+-]*)'", "".join(re.findall(r"\[[^\]]*\]", value))))
    assert installed and installed <= set(hf.ROLE_PACKAGES), sorted(installed - set(hf.ROLE_PACKAGES))


# --- the summary line (roles/preflight prints "<inventory name>  <summary>" per host) -----------------------

SUMMARY_FACTS = {
    "architecture": "x86_64", "avx2": True, "vcpus_usable": 7.5, "vcpus_online": 8, "clock_mhz": 2600, "clock_source": "cpufreq",
    "memory_available_mb": 14540, "memory_usable_mb": 15872, "disk_free_mb": 82227, "docker_data_root": "/var/lib/docker",
    "docker": {"installed": True, "version": "24.0.7", "running": True, "enabled": True},
    "gstreamer": {"installed": True, "version": "1.22.0"},
}


def test_summary_puts_the_facts_an_operator_scans_on_one_line():
    assert hf.summary(SUMMARY_FACTS) == ("x86_64  avx2=yes  vcpus=7.5/8  clock=2600MHz(cpufreq)  mem=14.2/15.5GiB  "
                                         "disk=80.3GiB free at /var/lib/docker  docker=24.0.7 (running)  gstreamer=1.22.0")


def test_summary_says_what_is_unknown_missing_or_stopped():
    facts = dict(SUMMARY_FACTS, architecture=None, avx2=False, clock_mhz=None, memory_available_mb=None, disk_free_mb=None,
                 docker={"installed": True, "version": None, "running": False}, gstreamer={"installed": False, "version": None})
    assert hf.summary(facts) == ("?  avx2=NO  vcpus=7.5/8  clock=unknown  mem=?/15.5GiB  disk=?GiB free at /var/lib/docker  "
                                 "docker=unknown version (stopped)  gstreamer=absent")
    assert "clock=2600MHz(?)" in hf.summary(dict((key, value) for key, value in SUMMARY_FACTS.items() if key != "clock_source"))
    assert "docker=absent  gstreamer=absent" in hf.summary(dict(SUMMARY_FACTS, docker=None, gstreamer={}))


def test_summary_without_facts_says_so():
    assert hf.summary({}) == hf.summary(None) == "no speech_host facts (host_facts did not run on it)"
