# Copyright: speechops team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""speech_host_summary: one readable line per host from the speech_host facts."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

MIB_PER_GIB = 1024


def _gib(megabytes):
    return "?" if megabytes is None else "%.1f" % (megabytes / MIB_PER_GIB)


def _yes_no(flag):
    return "yes" if flag else "NO"


def _component(info):
    if not info or not info.get("installed"):
        return "absent"
    version = info.get("version") or "unknown version"
    if "running" in info:
        return "%s (%s)" % (version, "running" if info["running"] else "stopped")
    return version


def _clock(facts):
    if facts.get("clock_mhz") is None:
        return "unknown"
    return "%dMHz(%s)" % (facts["clock_mhz"], facts.get("clock_source", "?"))


def format_host_line(name, facts):
    """One line that an operator can scan down a 200-host fleet."""
    if not facts:
        return "%s  no speech_host facts (host_facts did not run on it)" % name
    return "  ".join([
        name,
        facts.get("architecture") or "?",
        "avx2=%s" % _yes_no(facts.get("avx2")),
        "vcpus=%s/%s" % (facts.get("vcpus_usable"), facts.get("vcpus_online")),
        "clock=%s" % _clock(facts),
        "mem=%s/%sGiB" % (_gib(facts.get("memory_available_mb")), _gib(facts.get("memory_usable_mb"))),
        "disk=%sGiB free at %s" % (_gib(facts.get("disk_free_mb")), facts.get("docker_data_root")),
        "docker=%s" % _component(facts.get("docker")),
        "gstreamer=%s" % _component(facts.get("gstreamer")),
    ])


def speech_host_summary(hosts, hostvars):
    """Lines for the given inventory hosts, in the order given."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("speech_host_summary expects a list of inventory host names, got %s" % type(hosts).__name__)
    return [format_host_line(host, (hostvars.get(host) or {}).get("speech_host")) for host in hosts]


class FilterModule:
    def filters(self):
        return {"speech_host_summary": speech_host_summary}
