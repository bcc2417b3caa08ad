# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The replicas asked for against the room of the whole fleet, before any placement (private glue of plan.py).

One pass over the hosts and one over the services, O(services + hosts) with any replicas value: a request the
fleet cannot hold (replicas: 1000000000) is refused at once instead of being placed replica by replica. The room is
the sum over the AVX2 hosts of their usable cores, memory (a replica's --memory and the speech model memory its host
keeps beside it, sizing.py) and host ports in port_base..port_max not held by anything else, which also bounds the
containers one host can run. The sums are an upper bound of what placement can do (a replica needs its cores and
memory on one host): failing them rules a plan out, passing them leaves the per-host answer to placement.

Pinned replicas are left out of the demand: a pin is placed even where it does not fit (_Planner._settle_pinned).
Stdlib only; Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import MILLI

# Counts up to this are printed in full; a larger one as "over 10^N" (Python refuses to print an int of 4300 digits).
LARGEST_COUNT_SHOWN = 10 ** 15
AXES = ("cpus", "memory", "ports")
SHORTAGE_WORDS = {"cpus": "too few free cpus", "memory": "too little free memory", "ports": "too few free host ports"}


def count_text(count):
    """An integer of any size as words a message can hold."""
    if count < LARGEST_COUNT_SHOWN:
        return "%d" % count
    return "over 10^%d" % int(math.log10(count))


def fleet_room(hosts, port_range):
    """What all AVX2 hosts hold together: {hosts, avx2_hosts, cpu (millicores), memory (MB), ports, port_range}."""
    first, last = port_range
    avx2_hosts = cpu = memory = ports = 0
    for host in hosts:
        if host.avx2:
            avx2_hosts += 1
            cpu += host.cap_cpu
            memory += host.cap_mem
            ports += last - first + 1
            if host.foreign_ports:
                ports -= sum(1 for port in host.foreign_ports if first <= port <= last)
    return {"hosts": len(hosts), "avx2_hosts": avx2_hosts, "port_range": port_range, "cpu": cpu, "memory": memory,
            "ports": ports}


def _pinned_counts(hosts):
    pinned = {}
    for host in hosts:
        for pin in host.pins:
            pinned[pin["service"]] = pinned.get(pin["service"], 0) + 1
    return pinned


def _replicas_by_axis(room, service):
    """How many replicas of the service's size each of room's cores, memory and host ports hold (0 or more)."""
    cpu, memory, ports = (max(value, 0) for value in room)
    return (cpu // service.cpu if service.cpu else ports, memory // service.shape[1] if service.shape[1] else ports, ports)


def _replicas_within(room, service):
    """How many replicas of the service's size fit in room (millicores, MB, host ports): min(_replicas_by_axis()),
    without its tuples, as it runs once per service."""
    cpu, memory, fits = room
    if service.cpu:
        fits = min(fits, cpu // service.cpu)
    if service.shape[1]:
        fits = min(fits, memory // service.shape[1])
    return max(fits, 0)


def _entry(service, unpinned, room, pinned, alongside=None):
    by_axis = _replicas_by_axis(room, service)
    fits = min(by_axis)
    entry = {"service": service.name, "variable": service.where, "requested": service.replicas,
             "unplaced": unpinned - fits, "fits": fits + pinned, "cpus": service.cpu / MILLI, "memory_mb": service.memory,
             "model_memory_mb": service.host_model_mb, "reasons": [],
             "short_of": [axis for axis, count in zip(AXES, by_axis) if count == fits]}
    if alongside is not None:
        entry["alongside"] = alongside
    return entry


def shortfall(services, hosts, port_range):
    """Report entries (plan.format_capacity_report) of the services the fleet cannot hold, or [].

    First each service alone against the whole fleet; when each fits alone, all of them together, each entry then
    saying how many of that service fit beside the other services' replicas as asked.
    """
    room = fleet_room(hosts, port_range)
    fleet = (room["cpu"], room["memory"], room["ports"])
    pinned = _pinned_counts(hosts)
    unpinned, report = {}, []
    total = [0, 0, 0]  # millicores, MB and host ports of every unpinned replica
    for name, service in services.items():
        count = unpinned[name] = max(service.replicas - pinned.get(name, 0), 0)
        if count > _replicas_within(fleet, service):
            report.append(_entry(service, count, fleet, pinned.get(name, 0)))
        total[0] += count * service.cpu
        total[1] += count * service.shape[1]
        total[2] += count
    if report:
        return _with_reason(report, room)
    if total[0] <= fleet[0] and total[1] <= fleet[1] and total[2] <= fleet[2]:
        return []
    for name, service in services.items():
        count = unpinned[name]
        if not count:
            continue
        others = (total[0] - count * service.cpu, total[1] - count * service.shape[1], total[2] - count)
        room_left = (fleet[0] - others[0], fleet[1] - others[1], fleet[2] - others[2])
        if count > _replicas_within(room_left, service):
            report.append(_entry(service, count, room_left, pinned.get(name, 0),
                                 alongside={"replicas": others[2], "cpus": others[0] / MILLI, "memory_mb": others[1]}))
    return _with_reason(report, room)


def _with_reason(report, room):
    for entry in report:
        entry["reasons"] = [_room_text(room, entry["short_of"], entry.get("alongside"))]
    return report


def cores_text(milli):
    """Millicores as cores, e.g. 96 or 0.5."""
    if milli < LARGEST_COUNT_SHOWN:
        return "%g" % (milli / MILLI)
    return count_text(milli // MILLI)


def _room_text(room, short_of, alongside):
    if not room["hosts"]:
        return "speech_hosts has no hosts"
    if not room["avx2_hosts"]:
        return "no host has AVX2 (the Speech containers require it)"
    shortage = " and ".join(SHORTAGE_WORDS[axis] for axis in short_of)
    hosts = "%d AVX2 host%s" % (room["avx2_hosts"], "" if room["avx2_hosts"] == 1 else "s")
    if room["avx2_hosts"] < room["hosts"]:
        hosts += " (of %d hosts)" % room["hosts"]
    text = ("%s: the fleet's %s %s %s cores, %s MB and %s host ports of speech_port_base..speech_port_max (%d-%d) together, "
            "after speech_reserved_cpus and speech_reserved_memory_mb"
            % (shortage, hosts, "has" if room["avx2_hosts"] == 1 else "have", cores_text(room["cpu"]), count_text(room["memory"]),
               count_text(room["ports"]), room["port_range"][0], room["port_range"][1]))
    if alongside is None:
        return text
    return "%s, of which the other services' %s replicas take %s cores, %s MB and %s host ports" % (
        text, count_text(alongside["replicas"]), "%g" % alongside["cpus"], count_text(alongside["memory_mb"]),
        count_text(alongside["replicas"]))
