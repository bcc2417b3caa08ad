#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_facts
short_description: Gather the capacity facts of a speech container host
description:
  - Reports what decides whether, and how many, Azure AI Speech containers fit on a host
    as the fact C(speech_host), without a full fact gathering.
  - CPU flags and AVX2 support, online vCPUs and the vCPUs this host may actually use (CPU affinity and
    cgroup CPU quota, cgroup v1 and v2), the CPU clock and where it was read from.
  - Total, available and usable memory, honouring a cgroup memory limit.
  - Free and total disk space where Docker keeps its images, measured on the nearest existing directory
    when Docker is not installed yet.
  - Whether Docker and GStreamer are installed (and their versions), whether the Docker daemon answers,
    and the Python version of the target.
version_added: "0.1.0"
author:
  - speechops team (@speechops)
options:
  docker_data_root:
    description:
      - Directory whose file system holds Docker's images and containers.
      - When not set, the C(data-root) of C(/etc/docker/daemon.json), else C(/var/lib/docker).
    type: path
  packages:
    description:
      - Packages whose installed version RV(ansible_facts.speech_host.packages) reports, read from dpkg's status
        file or with C(rpm -q).
      - When not set, the packages the collection's roles install (Docker, GStreamer, HAProxy and their Python
        libraries); the roles skip their package task when every package of theirs is reported installed.
    type: list
    elements: str
  units:
    description:
      - systemd units whose state RV(ansible_facts.speech_host.units) reports.
      - When not set, C(docker) and C(haproxy), which the roles start only when they are not active and enabled.
    type: list
    elements: str
  trees:
    description:
      - Folders and files whose owner, group and mode (and a file's SHA-256) RV(ansible_facts.speech_host.files) reports,
        with what lies under a folder down to O(trees[].depth) levels. The roles compare them with the files they
        would write, and skip the write (a remote call) when nothing differs.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the folder or file.
        type: path
        required: true
      depth:
        description: How many levels under O(trees[].path) to read; V(0) reads the path alone.
        type: int
        default: 0
      checksums:
        description: Whether to read the SHA-256 of each file (V(false) for folders of models and logs).
        type: bool
        default: true
extends_documentation_fragment:
  - speechops.speech.attributes
  - speechops.speech.attributes.facts
  - speechops.speech.attributes.platform
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Linux only for the CPU, cgroup and memory facts; they are null where C(/proc) and C(/sys) cannot be read.
  - The cgroup limits are those of the cgroup the module runs in and all of its ancestors, the tightest winning.
    On a host that is itself a container this is the container's share of its host.
  - RV(ansible_facts.speech_host.docker.running) needs access to the Docker socket;
    use C(become) when it is restricted to root.
  - The clock comes from C(cpufreq) when the kernel exposes it, else from C(cpu MHz) in C(/proc/cpuinfo),
    else from a C(@ 2.60GHz) in the CPU model name. Virtual machines often expose none of them reliably.
  - No secret goes into the facts. A URL's password, the values of C(ApiKey), C(Authorization) and the like are masked
    as C(<masked>) wherever Docker or the host report them, by the scrubber of the filter
    P(speechops.speech.speech_scrub#filter).
seealso:
  - name: Azure AI Speech containers
    description: Host requirements of the Speech containers.
    link: https://learn.microsoft.com/azure/ai-services/speech-service/speech-container-howto
"""

EXAMPLES = r"""
- name: Read the capacity of every speech host
  speechops.speech.host_facts:

- name: Measure the disk Docker will use once it is moved to /srv/docker
  speechops.speech.host_facts:
    docker_data_root: /srv/docker

- name: Refuse hosts without AVX2
  ansible.builtin.assert:
    that: speech_host.avx2
    fail_msg: "{{ inventory_hostname }} has no AVX2; the Speech containers need it."
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    speech_host:
      description: Capacity facts of the host. A fact that cannot be read is null.
      returned: always
      type: dict
      contains:
        architecture:
          description: Machine architecture as reported by Python's C(platform.machine()).
          returned: always
          type: str
          sample: x86_64
        cpu_model:
          description: CPU model name from C(/proc/cpuinfo).
          returned: always
          type: str
          sample: Intel(R) Xeon(R) Gold 6126 CPU @ 2.60GHz
        cpu_flags:
          description: Sorted CPU feature flags from C(/proc/cpuinfo).
          returned: always
          type: list
          elements: str
          sample: [avx, avx2, sse4_2]
        avx2:
          description: Whether the CPU supports AVX2, which the Speech containers require.
          returned: always
          type: bool
          sample: true
        vcpus_online:
          description: Number of online CPUs.
          returned: always
          type: int
          sample: 8
        vcpus_usable:
          description: CPUs this host may use, the smaller of its CPU affinity and its cgroup CPU quota.
          returned: always
          type: float
          sample: 1.5
        cpu_quota_cores:
          description: Tightest cgroup CPU quota over the module's cgroup and its ancestors, in cores; null without a quota.
          returned: always
          type: float
          sample: 1.5
        cgroup_version:
          description: cgroup version holding the CPU and memory controllers (1 or 2); null when unknown.
          returned: always
          type: int
          sample: 2
        clock_mhz:
          description: CPU clock in MHz; null when it cannot be read.
          returned: always
          type: int
          sample: 2600
        clock_source:
          description: Where RV(ansible_facts.speech_host.clock_mhz) was read from.
          returned: always
          type: str
          choices: [cpufreq, cpuinfo, model_name, unknown]
          sample: cpufreq
        memory_total_mb:
          description: Physical memory (C(MemTotal)) in MiB.
          returned: always
          type: int
          sample: 32011
        memory_available_mb:
          description: Memory available for new work (C(MemAvailable)) in MiB, clipped to the headroom left under a cgroup memory limit.
          returned: always
          type: int
          sample: 28770
        memory_limit_mb:
          description: Tightest cgroup memory limit in MiB; null when there is none below the physical memory.
          returned: always
          type: int
          sample: 4096
        memory_usable_mb:
          description: The smaller of the physical memory and the cgroup memory limit, in MiB.
          returned: always
          type: int
          sample: 4096
        docker_data_root:
          description: Docker's data root, from O(docker_data_root), C(/etc/docker/daemon.json) or the default.
          returned: always
          type: str
          sample: /var/lib/docker
        disk_path:
          description: The directory that was measured, the nearest existing one at or above RV(ansible_facts.speech_host.docker_data_root).
          returned: always
          type: str
          sample: /var/lib
        disk_free_mb:
          description: Space available to unprivileged users on that file system, in MiB.
          returned: always
          type: int
          sample: 80112
        disk_total_mb:
          description: Size of that file system, in MiB.
          returned: always
          type: int
          sample: 258020
        docker:
          description: The Docker engine on the host.
          returned: always
          type: dict
          contains:
            installed:
              description: Whether C(dockerd) or C(docker) is on the PATH.
              returned: always
              type: bool
              sample: true
            version:
              description: Version of the Docker engine, from C(dockerd --version) or the running daemon.
              returned: always
              type: str
              sample: 20.10.24+dfsg1
            running:
              description: Whether C(docker info) reaches the daemon (within 30 seconds where C(timeout) is available).
              returned: always
              type: bool
              sample: true
            enabled:
              description: Whether systemd starts C(docker.service) at boot (C(systemctl is-enabled docker)).
              returned: always
              type: bool
              sample: true
        gstreamer:
          description: GStreamer 1.x on the host, which the Speech containers use for compressed audio.
          returned: always
          type: dict
          contains:
            installed:
              description: Whether C(gst-launch-1.0) or C(gst-inspect-1.0) is on the PATH.
              returned: always
              type: bool
              sample: true
            version:
              description: GStreamer version reported by the tool.
              returned: always
              type: str
              sample: 1.22.0
        images:
          description:
            - Every image on the host, as C(repository:tag) and C(repository@digest), sorted.
            - V(null) when Docker is absent or does not answer.
          returned: always
          type: list
          elements: str
          sample: [registry.example.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us]
        image_ids:
          description:
            - The image id (C(sha256:...)) of each reference of RV(ansible_facts.speech_host.images).
            - V(null) when Docker is absent or does not answer.
          returned: always
          type: dict
          sample: {"registry.example.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us": "sha256:4f2a..."}
        files:
          description:
            - Each path read for O(trees) that exists, with its C(type) (V(file), V(directory) or V(other)), C(mode)
              (C("0600")), C(uid), C(gid), C(owner), C(group), and a file's C(sha256) where its tree asks for checksums.
            - A checksum says whether a file differs from what a role would write, as M(ansible.builtin.stat) does; it
              does not give back a file's content.
          returned: always
          type: dict
          sample: {/etc/docker/daemon.json: {type: file, mode: "0644", uid: 0, gid: 0, owner: root, group: root, sha256: 9f86d0...}}
        file_trees:
          description: The trees of O(trees) as read.
          returned: always
          type: list
          elements: dict
          contains:
            path:
              description: The tree's path.
              returned: always
              type: str
              sample: /etc/docker
            depth:
              description: Levels read under it.
              returned: always
              type: int
              sample: 3
            checksums:
              description: Whether its files' SHA-256 were read.
              returned: always
              type: bool
            complete:
              description: False when the tree held too many entries to list (5,000 in all).
              returned: always
              type: bool
        file_user:
          description: The user the module ran as, the owner of a file written without an owner.
          returned: always
          type: dict
          contains:
            uid:
              description: Effective user id.
              returned: always
              type: int
              sample: 0
            gid:
              description: Effective group id.
              returned: always
              type: int
              sample: 0
        units:
          description:
            - For each unit of O(units), whether it is active (C(systemctl is-active)) and enabled at boot
              (C(systemctl is-enabled)).
            - V(null) without C(systemctl).
          returned: always
          type: dict
          sample: {docker: {active: true, enabled: true}, haproxy: {active: false, enabled: false}}
        packages:
          description:
            - Installed version of each package of O(packages) that is installed; a package that is not installed is
              absent.
            - V(null) when neither dpkg's status file nor C(rpm) is there.
          returned: always
          type: dict
          sample: {docker.io: 20.10.24+dfsg1-1+deb12u1, python3-requests: 2.28.1+dfsg-1}
        containers:
          description:
            - The containers this collection manages on the host (label C(speechops.managed=true)), running or not,
              as the plan reads them back to keep placements and ports stable.
            - Empty when Docker is absent or does not answer.
          returned: always
          type: list
          elements: dict
          contains:
            name:
              description: Container name.
              returned: always
              type: str
              sample: speech-stt-en-us-1
            service:
              description: Value of the C(speechops.service) label.
              returned: always
              type: str
              sample: stt-en-us
            kind:
              description: Value of the C(speechops.kind) label.
              returned: always
              type: str
              sample: speech-to-text
            replica:
              description: Value of the C(speechops.replica) label.
              returned: always
              type: str
              sample: "1"
            image:
              description: Value of the C(speechops.image) label.
              returned: always
              type: str
            plan_hash:
              description: Value of the C(speechops.plan_hash) label.
              returned: always
              type: str
            run_hash:
              description: Value of the C(speechops.run_hash) label, the digest of everything the container was created from.
              returned: always
              type: str
            image_id:
              description: Id of the image the container was created from.
              returned: always
              type: str
            cpus:
              description: Its CPU limit in cores, null when it has none.
              returned: always
              type: float
            memory_mb:
              description: Its memory limit in MiB, null when it has none.
              returned: always
              type: int
            restart_policy:
              description: Its restart policy's name.
              returned: always
              type: str
              sample: unless-stopped
            host_port:
              description: Value of the C(speechops.host_port) label, or null when it is not a number.
              returned: always
              type: int
              sample: 5100
            running:
              description: Whether the container is running.
              returned: always
              type: bool
        containers_listed:
          description:
            - Whether Docker listed the host's containers in this call. When false (Docker is not running or did not
              answer), C(containers) is empty and says nothing about what runs on the host.
          returned: always
          type: bool
        ports_in_use:
          description:
            - TCP ports held by anything other than this collection's containers, which the plan never assigns
              - listening sockets from C(/proc/net/tcp) and C(/proc/net/tcp6), and host ports published by other containers.
          returned: always
          type: list
          elements: int
          sample: [22, 5000]
        os:
          description: The operating system, from C(/etc/os-release).
          returned: always
          type: dict
          contains:
            id:
              description: C(ID), for example C(debian), C(ubuntu), C(rhel), C(rocky).
              returned: always
              type: str
              sample: debian
            version_id:
              description: C(VERSION_ID).
              returned: always
              type: str
              sample: "12"
            codename:
              description: C(VERSION_CODENAME), where the distribution sets it.
              returned: always
              type: str
              sample: bookworm
            family:
              description: C(Debian) or C(RedHat) (from C(ID) or C(ID_LIKE)), the same words as Ansible's C(os_family); null when unknown.
              returned: always
              type: str
              sample: Debian
        primary_ipv4:
          description:
            - The IPv4 address the host's default route leaves from (no packet is sent to find it), or null without one.
            - The plan uses it as the host's address for load balancers and the endpoints catalog unless the inventory
              sets C(speech_address).
          returned: always
          type: str
          sample: 10.0.0.11
        python_version:
          description: Version of the Python interpreter that ran the module on the target.
          returned: always
          type: str
          sample: 3.11.2
        summary:
          description:
            - These facts on one line an operator can scan down a fleet - architecture, AVX2, usable/online vCPUs, clock,
              available/usable memory and free disk at the Docker data root (GiB), the Docker engine and GStreamer.
            - The role C(speechops.speech.preflight) prints it after each host's inventory name.
          returned: always
          type: str
          sample: "x86_64  avx2=yes  vcpus=8.0/8  clock=3000MHz(cpufreq)  mem=14.2/15.5GiB  disk=80.3GiB free at /var/lib/docker  \
            docker=24.0.7 (running)  gstreamer=1.22.0"
"""

import os
import platform
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub
from ansible_collections.speechops.speech.plugins.module_utils.host_facts import (
    DPKG_STATUS,
    ROLE_PACKAGES,
    affinity_cpu_count,
    container_facts,
    gather_host_facts,
    listening_ports,
    parse_dockerd_version,
    parse_dpkg_status,
    parse_gstreamer_version,
    parse_image_ids,
    parse_image_list,
    parse_rpm_query,
    read_text,
    summary,
    tree_facts,
)

COMMAND_TIMEOUT_SECONDS = 30


def command_output(module, args):
    """stdout of a command that succeeded, else None."""
    try:
        rc, out, dummy_err = module.run_command(args, handle_exceptions=False)
    except OSError:
        return None
    return out if rc == 0 else None


def bounded(module, args):
    """Prefix ``args`` with timeout(1) where it exists: a hung Docker daemon must not hang fact gathering."""
    timeout = module.get_bin_path("timeout")
    return [timeout, str(COMMAND_TIMEOUT_SECONDS)] + args if timeout else args


def docker_facts(module):
    dockerd = module.get_bin_path("dockerd")
    docker = module.get_bin_path("docker")
    systemctl = module.get_bin_path("systemctl")
    facts = {"installed": bool(dockerd or docker), "version": None, "running": False,
             "enabled": bool(systemctl) and (command_output(module, [systemctl, "is-enabled", "docker"]) or "").strip() == "enabled"}
    if dockerd:
        facts["version"] = parse_dockerd_version(command_output(module, [dockerd, "--version"]))
    if docker:
        server_version = command_output(module, bounded(module, [docker, "info", "--format", "{{.ServerVersion}}"]))
        facts["running"] = server_version is not None
        facts["version"] = facts["version"] or (server_version or "").strip() or None
    return facts


def inspect_all_containers(module, docker_facts_):
    """`docker inspect` of every container on the host, as JSON text ("[]" when there is none); None when Docker
    does not answer."""
    docker = module.get_bin_path("docker")
    if not (docker and docker_facts_["running"]):
        return None
    listed = command_output(module, bounded(module, [docker, "ps", "-aq", "--no-trunc"]))
    if listed is None:
        return None
    ids = listed.split()
    if not ids:
        return "[]"
    return command_output(module, bounded(module, [docker, "inspect"] + ids))


def image_list(module, docker_facts_):
    """`docker image ls` lines of repository, tag, digest and full image id; None when Docker does not answer."""
    docker = module.get_bin_path("docker")
    if not (docker and docker_facts_["running"]):
        return None
    return command_output(module, bounded(module, [
        docker, "image", "ls", "--digests", "--no-trunc", "--format", "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"]))


def package_versions(module, names):
    """{name: version} of the installed packages among ``names``; None when there is no package database to ask."""
    if os.path.exists(DPKG_STATUS):  # also on a Debian host that has rpm installed
        return parse_dpkg_status(read_text("/", DPKG_STATUS), names)
    rpm = module.get_bin_path("rpm")
    if not rpm:
        return None
    try:
        dummy_rc, out, dummy_err = module.run_command([rpm, "-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"] + list(names),
                                                      handle_exceptions=False)
    except OSError:
        return None
    return parse_rpm_query(out)


def unit_states(module, names):
    """{unit: {"active": bool, "enabled": bool}}; None without systemctl."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return None
    return {name: {"active": (command_output(module, [systemctl, "is-active", name]) or "").strip() == "active",
                   "enabled": (command_output(module, [systemctl, "is-enabled", name]) or "").strip() == "enabled"}
            for name in names}


def gstreamer_facts(module):
    for tool in ("gst-launch-1.0", "gst-inspect-1.0"):
        path = module.get_bin_path(tool)
        if path:
            return {"installed": True, "version": parse_gstreamer_version(command_output(module, [path, "--version"]))}
    return {"installed": False, "version": None}


def primary_ipv4():
    """Source address of the default route: a UDP socket's connect() picks it without sending anything."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737), discard port; UDP connect sends no packet
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            docker_data_root=dict(type="path"),
            packages=dict(type="list", elements="str"),
            units=dict(type="list", elements="str"),
            trees=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                depth=dict(type="int", default=0),
                checksums=dict(type="bool", default=True),
            )),
        ),
        supports_check_mode=True,
    )

    facts = gather_host_facts(allowed_cpus=affinity_cpu_count(), data_root=module.params["docker_data_root"])
    docker = docker_facts(module)
    images = image_list(module, docker)
    facts.update(
        architecture=platform.machine() or None,
        docker=docker,
        gstreamer=gstreamer_facts(module),
        images=parse_image_list(images),
        image_ids=parse_image_ids(images),
        packages=package_versions(module, module.params["packages"] or ROLE_PACKAGES),
        units=unit_states(module, module.params["units"] or ["docker", "haproxy"]),
        primary_ipv4=primary_ipv4(),
        python_version=platform.python_version(),
    )
    facts.update(container_facts(inspect_all_containers(module, docker), listening_ports()))
    facts.update(tree_facts(module.params["trees"]))
    facts["summary"] = summary(facts)
    # what Docker and the host report (a proxy URL, a container's label) could hold a URL's password or a key
    module.exit_json(changed=False, ansible_facts=dict(speech_host=scrub(facts)))


if __name__ == "__main__":
    main()
