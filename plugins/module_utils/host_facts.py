# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read the capacity facts of a speech host from /proc, /sys and /etc.

Pure functions, standard library only. Every reader takes a ``root`` directory (default "/") so the
unit tests can point it at a recorded tree; every parser takes file contents as a string. Nothing here
raises on a missing or garbled file: the fact it would have produced becomes None.
"""

from __future__ import annotations

import glob
import grp
import hashlib
import json
import os
import pwd
import re
import stat
from typing import Dict, List, NamedTuple, Optional, Tuple

DEFAULT_DOCKER_DATA_ROOT = "/var/lib/docker"
DPKG_STATUS = "/var/lib/dpkg/status"
# The packages this collection's roles install (the docker, gstreamer and loadbalancer roles' vars, Debian
# and RHEL families; tests/unit keeps the two in step). A role installs only when one of its own is missing.
ROLE_PACKAGES = (
    "docker.io", "docker-ce", "docker-ce-cli", "containerd.io", "moby-engine", "python3-requests",
    "libgstreamer1.0-0", "gstreamer1.0-plugins-base", "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly", "gstreamer1.0-libav", "gstreamer1.0-tools",
    "gstreamer1", "gstreamer1-plugins-base", "gstreamer1-plugins-good", "gstreamer1-plugins-bad-free",
    "gstreamer1-plugins-ugly-free", "gstreamer1-plugins-base-tools",
    "haproxy", "python3-cryptography", "keepalived", "nftables",
)

MIB = 1024 * 1024
# cgroup v1 reports "no memory limit" as a page-rounded 2**63; anything this large is no limit.
UNLIMITED_MEMORY_BYTES = 2 ** 60

_MODEL_NAME_GHZ = re.compile(r"@\s*(\d+(?:\.\d+)?)\s*GHz", re.IGNORECASE)
_DOCKERD_VERSION = re.compile(r"Docker version\s+([^\s,]+)")
_GSTREAMER_VERSION = re.compile(r"^GStreamer\s+(\S+)", re.MULTILINE)


# --- reading files -------------------------------------------------------------------------------

def under_root(root: str, path: str) -> str:
    """Return the absolute ``path`` of the target as seen below ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(root: str, path: str) -> Optional[str]:
    try:
        with open(under_root(root, path), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


# --- /proc/cpuinfo -------------------------------------------------------------------------------

def cpuinfo_values(cpuinfo: str, key: str) -> List[str]:
    """All values of ``key`` in /proc/cpuinfo, one per processor block that has it."""
    values = []
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            values.append(value.strip())
    return values


def parse_cpu_flags(cpuinfo: str) -> List[str]:
    # x86 calls them "flags", arm64 calls them "Features".
    for key in ("flags", "Features"):
        values = cpuinfo_values(cpuinfo, key)
        if values:
            return sorted(set(values[0].split()))
    return []


def parse_model_name(cpuinfo: str) -> Optional[str]:
    names = cpuinfo_values(cpuinfo, "model name")
    return names[0] if names else None


def count_processors(cpuinfo: str) -> Optional[int]:
    return len(cpuinfo_values(cpuinfo, "processor")) or None


def parse_max_cpu_mhz(cpuinfo: str) -> Optional[int]:
    speeds = []
    for value in cpuinfo_values(cpuinfo, "cpu MHz"):
        try:
            speeds.append(float(value))
        except ValueError:
            continue
    return int(round(max(speeds))) if speeds else None


def parse_model_name_mhz(model_name: Optional[str]) -> Optional[int]:
    """The rated clock written in a model name such as "Intel(R) Xeon(R) Gold 6126 CPU @ 2.60GHz"."""
    match = _MODEL_NAME_GHZ.search(model_name or "")
    return int(round(float(match.group(1)) * 1000)) if match else None


# --- /sys/devices/system/cpu ---------------------------------------------------------------------

def count_cpu_list(cpu_list: Optional[str]) -> Optional[int]:
    """Count the CPUs in a kernel CPU list such as "0-3,8,10-11"."""
    count = 0
    for part in (cpu_list or "").strip().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            count += int(last) - int(first) + 1 if sep else 1
        except ValueError:
            return None
    return count or None


def read_max_cpufreq_mhz(root: str = "/") -> Optional[int]:
    khz_values = []
    pattern = under_root(root, "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq")
    for path in glob.glob(pattern):
        try:
            with open(path, encoding="utf-8") as handle:
                khz_values.append(int(handle.read().strip()))
        except (OSError, ValueError):
            continue
    return int(round(max(khz_values) / 1000.0)) if khz_values else None


def clock_facts(root: str, cpuinfo: str) -> Dict[str, object]:
    """Best available CPU clock in MHz and where it came from."""
    candidates = (
        ("cpufreq", lambda: read_max_cpufreq_mhz(root)),
        ("cpuinfo", lambda: parse_max_cpu_mhz(cpuinfo)),
        ("model_name", lambda: parse_model_name_mhz(parse_model_name(cpuinfo))),
    )
    for source, read in candidates:
        mhz = read()
        if mhz:
            return {"clock_mhz": mhz, "clock_source": source}
    return {"clock_mhz": None, "clock_source": "unknown"}


# --- /proc/meminfo -------------------------------------------------------------------------------

def parse_meminfo_bytes(meminfo: str) -> Dict[str, int]:
    values = {}
    for line in meminfo.splitlines():
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields:
            continue
        try:
            amount = int(fields[0])
        except ValueError:
            continue
        values[name.strip()] = amount * 1024 if fields[1:2] == ["kB"] else amount
    return values


# --- cgroups -------------------------------------------------------------------------------------

class CgroupMembership(NamedTuple):
    """One line of /proc/self/cgroup: controllers is empty for the cgroup v2 (unified) line."""
    controllers: Tuple[str, ...]
    path: str


class CgroupMount(NamedTuple):
    root: str
    mount_point: str
    fstype: str
    super_options: Tuple[str, ...]


def parse_proc_cgroup(text: str) -> List[CgroupMembership]:
    memberships = []
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        controllers = tuple(name for name in fields[1].split(",") if name)
        memberships.append(CgroupMembership(controllers, fields[2].strip() or "/"))
    return memberships


def _unescape_mount_field(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def parse_cgroup_mounts(mountinfo: str) -> List[CgroupMount]:
    mounts = []
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        head, tail = before.split(), after.split()
        if not sep or len(head) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(CgroupMount(
            root=_unescape_mount_field(head[3]),
            mount_point=_unescape_mount_field(head[4]),
            fstype=tail[0],
            super_options=tuple(tail[2].split(",")),
        ))
    return mounts


def cgroup_version(memberships: List[CgroupMembership]) -> Optional[int]:
    if any(set(m.controllers) & {"cpu", "memory", "cpuset"} for m in memberships):
        return 1
    if any(not m.controllers for m in memberships):
        return 2
    return None


def _membership_for(controller: str, memberships: List[CgroupMembership]) -> Optional[CgroupMembership]:
    """Our v1 hierarchy holding ``controller``, else our v2 (unified) cgroup."""
    for membership in memberships:
        if controller in membership.controllers:
            return membership
    for membership in memberships:
        if not membership.controllers:
            return membership
    return None


def _mount_for(controller: str, membership: CgroupMembership, mounts: List[CgroupMount]) -> CgroupMount:
    """Where that hierarchy is mounted; the conventional place when mountinfo is not available."""
    unified = not membership.controllers
    for mount in mounts:
        if unified and mount.fstype == "cgroup2":
            return mount
        if not unified and mount.fstype == "cgroup" and controller in mount.super_options:
            return mount
    default = "/sys/fs/cgroup" if unified else "/sys/fs/cgroup/" + controller
    return CgroupMount("/", default, "cgroup2" if unified else "cgroup", ())


def cgroup_dirs(root: str, controller: str, memberships: List[CgroupMembership], mounts: List[CgroupMount]) -> List[str]:
    """Our cgroup directory for ``controller`` and each ancestor visible under its mount, leaf first.

    With cgroupns=host and the host's /sys/fs/cgroup the path is complete ("/docker/<id>/...").
    A v1 container mount starts at the container's own cgroup (mountinfo root "/docker/<id>");
    a private cgroupns shows "/". When our path cannot be found we fall back to the mount point.
    """
    membership = _membership_for(controller, memberships)
    if membership is None:
        return []
    mount = _mount_for(controller, membership, mounts)
    relative = membership.path
    mount_root = mount.root.rstrip("/")
    if mount_root and (relative == mount_root or relative.startswith(mount_root + "/")):
        relative = relative[len(mount_root):]
    top = os.path.normpath(under_root(root, mount.mount_point))
    leaf = os.path.normpath(os.path.join(top, relative.lstrip("/")))
    if os.path.commonpath([top, leaf]) != top or not os.path.isdir(leaf):
        leaf = top
    dirs = [leaf]
    while dirs[-1] != top and os.path.dirname(dirs[-1]) != dirs[-1]:
        dirs.append(os.path.dirname(dirs[-1]))
    return dirs


def parse_cpu_max(cpu_max: Optional[str]) -> Optional[float]:
    """cgroup v2 cpu.max: "<quota> <period>" in microseconds, or "max <period>" for no limit."""
    fields = (cpu_max or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return cfs_quota_cores(fields[0], fields[1])


def cfs_quota_cores(quota_us: Optional[str], period_us: Optional[str]) -> Optional[float]:
    """CPU quota in cores from a quota and a period in microseconds; a negative quota is no limit."""
    try:
        quota, period = int((quota_us or "").strip()), int((period_us or "").strip())
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / float(period)


def cpu_quota_of(directory: str, version: int) -> Optional[float]:
    if version == 2:
        return parse_cpu_max(read_text(directory, "cpu.max"))
    return cfs_quota_cores(read_text(directory, "cpu.cfs_quota_us"), read_text(directory, "cpu.cfs_period_us"))


def parse_memory_limit(text: Optional[str], memory_total: Optional[int] = None) -> Optional[int]:
    """A memory limit in bytes, or None for "max", a huge sentinel, or anything not below the RAM."""
    try:
        limit = int((text or "").strip())
    except ValueError:
        return None
    if limit <= 0 or limit >= UNLIMITED_MEMORY_BYTES or (memory_total and limit >= memory_total):
        return None
    return limit


def parse_flat_keyed(text: Optional[str]) -> Dict[str, int]:
    """A "key value" per line file such as memory.stat."""
    values = {}
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) == 2:
            try:
                values[fields[0]] = int(fields[1])
            except ValueError:
                continue
    return values


def memory_working_set(directory: str, version: int) -> Optional[int]:
    """Usage minus inactive page cache, the figure the kernel cannot simply reclaim (as docker stats reports)."""
    usage_file, inactive_key = ("memory.current", "inactive_file") if version == 2 else ("memory.usage_in_bytes", "total_inactive_file")
    try:
        usage = int((read_text(directory, usage_file) or "").strip())
    except ValueError:
        return None
    inactive = parse_flat_keyed(read_text(directory, "memory.stat")).get(inactive_key, 0)
    return usage - inactive if 0 <= inactive <= usage else usage


def memory_limit_of(directory: str, version: int, memory_total: Optional[int]) -> Optional[int]:
    name = "memory.max" if version == 2 else "memory.limit_in_bytes"
    return parse_memory_limit(read_text(directory, name), memory_total)


def cpuset_cpu_count(dirs: List[str], version: int) -> Optional[int]:
    """CPUs our cpuset allows: the effective list of the nearest cgroup that has one."""
    name = "cpuset.cpus.effective" if version == 2 else "cpuset.effective_cpus"
    for directory in dirs:
        count = count_cpu_list(read_text(directory, name))
        if count:
            return count
    return None


def _min_or_none(values) -> Optional[float]:
    present = [value for value in values if value is not None]
    return min(present) if present else None


class CgroupView(object):
    """Our cgroup hierarchies as read below ``root``."""

    def __init__(self, root: str = "/"):
        self.root = root
        self.memberships = parse_proc_cgroup(read_text(root, "/proc/self/cgroup") or "")
        self.mounts = parse_cgroup_mounts(read_text(root, "/proc/self/mountinfo") or "")
        self.version = cgroup_version(self.memberships)

    def _controller(self, controller: str) -> Tuple[List[str], int]:
        membership = _membership_for(controller, self.memberships)
        version = 2 if membership is not None and not membership.controllers else 1
        return cgroup_dirs(self.root, controller, self.memberships, self.mounts), version

    def cpu_quota_cores(self) -> Optional[float]:
        dirs, version = self._controller("cpu")
        return _min_or_none(cpu_quota_of(directory, version) for directory in dirs)

    def cpuset_cpus(self) -> Optional[int]:
        dirs, version = self._controller("cpuset")
        return cpuset_cpu_count(dirs, version)

    def memory_limit(self, memory_total: Optional[int]) -> Optional[int]:
        dirs, version = self._controller("memory")
        return _min_or_none(memory_limit_of(directory, version, memory_total) for directory in dirs)

    def memory_headroom(self, memory_total: Optional[int]) -> Optional[int]:
        """Bytes still available under the tightest limited ancestor: its limit minus its working set."""
        dirs, version = self._controller("memory")
        headrooms = []
        for directory in dirs:
            limit = memory_limit_of(directory, version, memory_total)
            if limit is None:
                continue
            used = memory_working_set(directory, version)
            headrooms.append(max(limit - (used or 0), 0))
        return _min_or_none(headrooms)


# --- derived facts -------------------------------------------------------------------------------

def to_mb(amount: Optional[int]) -> Optional[int]:
    return None if amount is None else int(amount // MIB)


def usable_vcpus(allowed_cpus: Optional[int], quota_cores: Optional[float]) -> Optional[float]:
    value = _min_or_none([allowed_cpus, quota_cores])
    return None if value is None else round(float(value), 2)


def cpu_facts(root: str = "/", allowed_cpus: Optional[int] = None) -> Dict[str, object]:
    """CPU facts. ``allowed_cpus`` is our affinity (os.sched_getaffinity); without it the cpuset is read."""
    cpuinfo = read_text(root, "/proc/cpuinfo") or ""
    cgroups = CgroupView(root)
    flags = parse_cpu_flags(cpuinfo)
    online = count_cpu_list(read_text(root, "/sys/devices/system/cpu/online")) or count_processors(cpuinfo)
    if allowed_cpus is None:
        allowed_cpus = cgroups.cpuset_cpus() or online
    quota = cgroups.cpu_quota_cores()
    facts = {
        "cpu_flags": flags,
        "avx2": "avx2" in flags,
        "cpu_model": parse_model_name(cpuinfo),
        "vcpus_online": online,
        "vcpus_usable": usable_vcpus(allowed_cpus, quota),
        "cpu_quota_cores": None if quota is None else round(quota, 2),
        "cgroup_version": cgroups.version,
    }
    facts.update(clock_facts(root, cpuinfo))
    return facts


def memory_facts(root: str = "/") -> Dict[str, Optional[int]]:
    meminfo = parse_meminfo_bytes(read_text(root, "/proc/meminfo") or "")
    total, available = meminfo.get("MemTotal"), meminfo.get("MemAvailable")
    cgroups = CgroupView(root)
    limit = cgroups.memory_limit(total)
    headroom = cgroups.memory_headroom(total)
    return {
        "memory_total_mb": to_mb(total),
        "memory_available_mb": to_mb(_min_or_none([available, headroom])),
        "memory_limit_mb": to_mb(limit),
        "memory_usable_mb": to_mb(_min_or_none([total, limit])),
    }


# --- Docker data root and disk -------------------------------------------------------------------

def parse_daemon_json_data_root(daemon_json: Optional[str]) -> Optional[str]:
    try:
        config = json.loads(daemon_json or "")
    except ValueError:
        return None
    data_root = config.get("data-root") if isinstance(config, dict) else None
    return data_root if isinstance(data_root, str) and data_root.strip() else None


def docker_data_root(root: str = "/") -> str:
    """Docker's configured data root, or its default when daemon.json does not set one."""
    return parse_daemon_json_data_root(read_text(root, "/etc/docker/daemon.json")) or DEFAULT_DOCKER_DATA_ROOT


def nearest_existing_ancestor(path: str) -> str:
    """``path`` itself if it exists, else its closest existing parent (Docker may not be installed yet)."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def disk_facts(data_root: str) -> Dict[str, object]:
    measured = nearest_existing_ancestor(data_root)
    try:
        stats = os.statvfs(measured)
    except OSError:
        return {"docker_data_root": data_root, "disk_path": measured, "disk_free_mb": None, "disk_total_mb": None}
    return {
        "docker_data_root": data_root,
        "disk_path": measured,
        "disk_free_mb": to_mb(stats.f_bavail * stats.f_frsize),
        "disk_total_mb": to_mb(stats.f_blocks * stats.f_frsize),
    }


# --- tool versions -------------------------------------------------------------------------------

def parse_dockerd_version(output: Optional[str]) -> Optional[str]:
    """The version in "Docker version 20.10.24+dfsg1, build 5d6db84", here "20.10.24+dfsg1"."""
    match = _DOCKERD_VERSION.search(output or "")
    return match.group(1) if match else None


def parse_gstreamer_version(output: Optional[str]) -> Optional[str]:
    """The "GStreamer 1.22.0" line printed by gst-launch-1.0 --version and gst-inspect-1.0 --version."""
    match = _GSTREAMER_VERSION.search(output or "")
    return match.group(1) if match else None


# --- operating system ----------------------------------------------------------------------------

OS_FAMILIES = {
    "debian": "Debian", "ubuntu": "Debian",
    "rhel": "RedHat", "centos": "RedHat", "rocky": "RedHat", "almalinux": "RedHat", "fedora": "RedHat", "ol": "RedHat",
}


def _image_lines(output: str):
    """(references, image id) of each line "repository<TAB>tag<TAB>digest[<TAB>id]" of `docker image ls --format`."""
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) not in (3, 4) or fields[0] == "<none>":
            continue
        repository, tag, digest = fields[:3]
        references = []
        if tag != "<none>":
            references.append("%s:%s" % (repository, tag))
        if digest != "<none>":
            references.append("%s@%s" % (repository, digest))
        yield references, (fields[3] if len(fields) == 4 else None)


def parse_image_list(output: Optional[str]) -> Optional[List[str]]:
    """References of the images on a host, from `docker image ls --digests --format` lines of
    "repository<TAB>tag<TAB>digest" (and the image id): each "repository:tag" and "repository@digest", sorted.
    None when Docker did not answer (unknown, not "no images")."""
    if output is None:
        return None
    return sorted(set(reference for references, dummy_id in _image_lines(output) for reference in references))


def parse_image_ids(output: Optional[str]) -> Optional[Dict[str, str]]:
    """{reference: image id} from the same lines with the id (`{{.ID}}` with --no-trunc) as a fourth field."""
    if output is None:
        return None
    return dict((reference, image_id) for references, image_id in _image_lines(output) if image_id
                for reference in references)


def parse_dpkg_status(text: Optional[str], names) -> Optional[Dict[str, str]]:
    """{name: version} of the packages among ``names`` that dpkg's status file says are installed."""
    if text is None:
        return None
    wanted, installed = set(names), {}
    for paragraph in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in paragraph.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") in wanted and fields.get("Status", "").endswith(" installed"):
            installed[fields["Package"]] = fields.get("Version")
    return installed


def parse_rpm_query(output: Optional[str]) -> Optional[Dict[str, str]]:
    """{name: version-release} from `rpm -q --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' NAME...` (a package that is
    not installed prints a line without a tab)."""
    if output is None:
        return None
    return dict(line.split("\t", 1) for line in output.splitlines() if "\t" in line)


def parse_os_release(text: Optional[str]) -> Dict[str, Optional[str]]:
    """id, version_id, codename and the Ansible-style family from /etc/os-release."""
    fields = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"').strip("'")
    os_id = fields.get("ID", "").lower() or None
    family = OS_FAMILIES.get(os_id or "")
    for like in fields.get("ID_LIKE", "").lower().split():
        family = family or OS_FAMILIES.get(like)
    return {
        "id": os_id,
        "version_id": fields.get("VERSION_ID") or None,
        "codename": fields.get("VERSION_CODENAME") or None,
        "family": family,
    }


def os_facts(root: str = "/") -> Dict[str, Optional[str]]:
    return parse_os_release(read_text(root, "/etc/os-release") or read_text(root, "/usr/lib/os-release"))


# --- ports and our containers --------------------------------------------------------------------

TCP_LISTEN_STATE = "0A"
MANAGED_LABEL = "speechops.managed"
LABEL_PREFIX = "speechops."


def parse_listening_ports(proc_net_tcp: Optional[str]) -> List[int]:
    """Local ports in LISTEN state from a /proc/net/tcp or tcp6 table."""
    ports = set()
    for line in (proc_net_tcp or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == TCP_LISTEN_STATE and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return sorted(ports)


def listening_ports(root: str = "/") -> List[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        ports.update(parse_listening_ports(read_text(root, table)))
    return sorted(ports)


def published_host_ports(inspect: dict) -> List[int]:
    """Host ports a container publishes, from `docker inspect` (bindings exist even while it is stopped)."""
    bindings = ((inspect.get("HostConfig") or {}).get("PortBindings")) or {}
    ports = set()
    for host_bindings in bindings.values():
        for binding in host_bindings or []:
            try:
                ports.add(int(binding.get("HostPort") or ""))
            except ValueError:
                continue
    return sorted(ports)


def managed_container(inspect: dict) -> Dict[str, object]:
    """What the plan reads back from one of our containers: its name and the speechops.* labels."""
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    ours = dict((key[len(LABEL_PREFIX):], value) for key, value in labels.items() if key.startswith(LABEL_PREFIX))
    try:
        host_port = int(ours.get("host_port", ""))
    except ValueError:
        host_port = None
    host_config = inspect.get("HostConfig") or {}
    return {
        "name": (inspect.get("Name") or "").lstrip("/"),
        "service": ours.get("service"),
        "kind": ours.get("kind"),
        "replica": ours.get("replica"),
        "image": ours.get("image"),
        "plan_hash": ours.get("plan_hash"),
        "run_hash": ours.get("run_hash"),
        "host_port": host_port,
        "running": bool((inspect.get("State") or {}).get("Running")),
        # what `docker update` can change without a new container, and the image it was created from
        "image_id": inspect.get("Image"),
        "cpus": (host_config.get("NanoCpus") or 0) / 1e9 or None,
        "memory_mb": (host_config.get("Memory") or 0) // MIB or None,
        "restart_policy": (host_config.get("RestartPolicy") or {}).get("Name") or None,
    }


def container_facts(inspect_output: Optional[str], listening: List[int]) -> Dict[str, object]:
    """Our containers, whether Docker listed them (containers_listed: false when it did not answer, and then an empty
    list says nothing), and the ports held by anything else (listeners and other containers' bindings)."""
    try:
        inspected = json.loads(inspect_output) if inspect_output else None
    except ValueError:
        inspected = None
    listed = isinstance(inspected, list)
    containers = []
    ours, others = set(), set()
    for inspect in inspected if listed else []:
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        if labels.get(MANAGED_LABEL) == "true":
            containers.append(managed_container(inspect))
            ours.update(published_host_ports(inspect))
        else:
            others.update(published_host_ports(inspect))
    containers.sort(key=lambda container: container["name"])
    return {"containers": containers, "containers_listed": listed, "ports_in_use": sorted((set(listening) | others) - ours)}


# --- the collection's files, for the roles' drift checks ---------------------------------------------

MAX_TREE_ENTRIES = 5000


def _name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _file_entry(path: str, status, checksums: bool) -> Dict[str, object]:
    kind = "directory" if stat.S_ISDIR(status.st_mode) else "file" if stat.S_ISREG(status.st_mode) else "other"
    entry = {"type": kind, "mode": "%04o" % stat.S_IMODE(status.st_mode), "uid": status.st_uid, "gid": status.st_gid,
             "owner": _name_of(pwd.getpwuid, status.st_uid), "group": _name_of(grp.getgrgid, status.st_gid)}
    if kind == "file" and checksums:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(block)
            entry["sha256"] = digest.hexdigest()
        except OSError:
            entry["sha256"] = None
    return entry


def tree_facts(trees) -> Dict[str, object]:
    """Owner, group, mode (and a file's SHA-256 where the tree asks for checksums) of each path of ``trees``
    ([{path, depth, checksums}]) and what lies under it down to ``depth`` levels, symbolic links not followed;
    and the trees as read, each "complete" unless MAX_TREE_ENTRIES cut it short. What the roles' drift checks
    compare with the files they would write (module_utils/drift.py)."""
    files: Dict[str, Dict[str, object]] = {}
    read = []
    for tree in trees or []:
        root, depth = os.path.normpath(tree["path"]), int(tree.get("depth") or 0)
        checksums = tree.get("checksums", True) is not False
        complete = True
        pending = [(root, 0)]
        while pending:
            path, level = pending.pop()
            if len(files) >= MAX_TREE_ENTRIES:
                complete = False
                break
            try:
                status = os.lstat(path)
            except OSError:
                continue
            files[path] = _file_entry(path, status, checksums)
            if stat.S_ISDIR(status.st_mode) and level < depth:
                try:
                    names = sorted(os.listdir(path))
                except OSError:
                    complete = False
                    continue
                pending.extend((os.path.join(path, name), level + 1) for name in names)
        read.append({"path": root, "depth": depth, "checksums": checksums, "complete": complete})
    return {"files": files, "file_trees": read, "file_user": {"uid": os.geteuid(), "gid": os.getegid()}}


def affinity_cpu_count() -> Optional[int]:
    """CPUs this process may run on (honours cpusets and taskset), where the platform can tell."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def gather_host_facts(root: str = "/", allowed_cpus: Optional[int] = None, data_root: Optional[str] = None) -> Dict[str, object]:
    """Every file-based fact of ``speech_host``; the module adds the docker, gstreamer and python facts."""
    facts = cpu_facts(root, allowed_cpus)
    facts.update(memory_facts(root))
    facts.update(disk_facts(data_root or docker_data_root(root)))
    facts["os"] = os_facts(root)
    return facts


# ------------------------------------------------------------------------------------ the summary line

MIB_PER_GIB = 1024
NO_FACTS_SUMMARY = "no speech_host facts (host_facts did not run on it)"


def _gib(megabytes: Optional[int]) -> str:
    return "?" if megabytes is None else "%.1f" % (megabytes / MIB_PER_GIB)


def _yes_no(flag) -> str:
    return "yes" if flag else "NO"


def _component(info) -> str:
    if not info or not info.get("installed"):
        return "absent"
    version = info.get("version") or "unknown version"
    if "running" in info:
        return "%s (%s)" % (version, "running" if info["running"] else "stopped")
    return version


def _clock(facts) -> str:
    if facts.get("clock_mhz") is None:
        return "unknown"
    return "%dMHz(%s)" % (facts["clock_mhz"], facts.get("clock_source", "?"))


def summary(facts) -> str:
    """The speech_host facts on one line an operator can scan down a 200-host fleet, after the host's name
    (roles/preflight prints `<inventory name>  <summary>`); NO_FACTS_SUMMARY without facts."""
    if not facts:
        return NO_FACTS_SUMMARY
    return "  ".join([
        facts.get("architecture") or "?",
        "avx2=%s" % _yes_no(facts.get("avx2")),
        "vcpus=%s/%s" % (facts.get("vcpus_usable"), facts.get("vcpus_online")),
        "clock=%s" % _clock(facts),
        "mem=%s/%sGiB" % (_gib(facts.get("memory_available_mb")), _gib(facts.get("memory_usable_mb"))),
        "disk=%sGiB free at %s" % (_gib(facts.get("disk_free_mb")), facts.get("docker_data_root")),
        "docker=%s" % _component(facts.get("docker")),
        "gstreamer=%s" % _component(facts.get("gstreamer")),
    ])
