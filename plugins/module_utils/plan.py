# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet placement and host-port allocation for the Speech containers.

Pure and deterministic: no host access, no randomness, no dependence on input order. Stdlib only;
importable on Python 3.8. The filter plugin speechops.speech.plan is a thin wrapper around
build_plan().

Algorithm (as fleet schedulers place replicas: a service's replicas spread over hosts and fault domains
first, then the spread or binpack strategy chooses among the equals; each choice of our own is
explained where it is made):
0. the replicas asked for are checked against the room of all hosts together, in O(services + hosts)
   whatever the replicas (_plan_capacity.py): a request the fleet cannot hold fails at once, each short
   service with how many of its size fit;
1. pinned replicas take their hosts first, even a host too small or without AVX2: a pin is the
   operator's explicit choice, the plan marks such a host overcommitted and preflight rejects it;
2. current placements (read back from container labels) are kept while they still fit, so adding a
   host moves nothing and removing a host moves only its replicas;
3. missing replicas are placed service by service, largest service first (first-fit decreasing packs
   better than name order and is just as deterministic), each on the host with the lowest
   (same-service replicas on the host, same-service replicas in its fault domain,
    least-allocated or most-allocated after placing, host hash);
4. only an explicit rebalance moves containers: one strictly improving move at a time (the same
   lexicographic score, so moves never cycle), at most max_moves, each O(64 candidates x hosts).

Memory: a container's memory_mb is its Docker --memory, the documented allocation (sizing.py). The speech model
memory of speech to text counts in the host's budget beside it (speech_model_memory: host) or inside --memory
(container), once per container either way. Each host shows both in allocated: container_memory_mb + model_memory_mb
= memory_mb.

Ports: each new container takes the lowest port of port_base..port_max that is neither foreign
(ports_in_use), pinned, planned, nor held by any current container of ours (even one being removed:
the container role may create before it removes). Kept containers keep their port while it is valid.

Performance: candidate hosts live in one heap per (container shape, fault domain) ordered by the
utilisation score for that shape, plus one heap per shape over those heaps' tops. A service pops
hosts that already hold it into a stash and sets aside domains that already hold it, so a replica
costs O(log hosts) and a service O(its replicas + domains it touches), never O(all hosts). Under
spread a placement only raises a host's keys, so entries in other shapes' heaps are refreshed
lazily; under binpack they are pushed at once. 10,000 replicas over 2,000 hosts plan in about
0.2 s (tests/bench/bench_plan.py). The final tie-break hashes the host name, not each
(replica, host) pair as HRW does: that would be O(replicas x hosts), and stickiness already gives
the minimal disruption HRW is used for.

Layout: this module is the entry point (build_plan, the plan's output, the errors) and re-exports the
public names of its private glue: _plan_inputs.py (validation of the inputs, host_inputs), _plan_capacity.py
(the fleet's room against the request), _plan_placement.py (the _Planner) and _plan_views.py (plan_table, endpoints, endpoints_markdown, lb_servers, without).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import gc
import hashlib

from ansible_collections.speechops.speech.plugins.module_utils import catalog, sizing
from ansible_collections.speechops.speech.plugins.module_utils._plan_capacity import count_text, shortfall
from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import (
    BINPACK,
    DEFAULT_LB_PORT_BASE,
    DEFAULT_PORT_BASE,
    DEFAULT_PORT_MAX,
    DEFAULT_PROFILE,
    DEFAULT_REGISTRY,
    MILLI,
    SPREAD,
    STRATEGIES,
    PlanInputError,
    _as_int,
    _check_options,
    _check_pin_totals,
    host_inputs,
    parse_hosts,
    parse_services,
)
from ansible_collections.speechops.speech.plugins.module_utils._plan_placement import (
    CONTAINER_PREFIX,
    _index_current,
    _Planner,
    container_name,
)
from ansible_collections.speechops.speech.plugins.module_utils._plan_views import (
    endpoints,
    endpoints_markdown,
    lb_servers,
    plan_table,
    without,
)

# This module's public names, its own and those of the private modules that callers (the plan filters) use from here.
__all__ = (
    "BINPACK", "CONTAINER_PREFIX", "DEFAULT_LB_PORT_BASE", "DEFAULT_PORT_BASE", "DEFAULT_PORT_MAX", "DEFAULT_PROFILE",
    "DEFAULT_REGISTRY", "LABEL_HOST_PORT", "LABEL_IMAGE", "LABEL_KIND", "LABEL_MANAGED", "LABEL_PLAN_HASH", "LABEL_PREFIX",
    "LABEL_REPLICA", "LABEL_SERVICE", "MILLI", "PLAN_FORMAT", "SPREAD", "STRATEGIES", "PlanCapacityError", "PlanInputError",
    "assign_lb_ports", "build_plan", "container_name", "endpoints", "endpoints_markdown", "format_capacity_report",
    "host_inputs", "lb_servers", "parse_hosts", "parse_services", "plan_hash", "plan_table", "without",
)

PLAN_FORMAT = 1
LABEL_PREFIX = "speechops."
LABEL_MANAGED = LABEL_PREFIX + "managed"
LABEL_SERVICE = LABEL_PREFIX + "service"
LABEL_KIND = LABEL_PREFIX + "kind"
LABEL_REPLICA = LABEL_PREFIX + "replica"
LABEL_IMAGE = LABEL_PREFIX + "image"
LABEL_PLAN_HASH = LABEL_PREFIX + "plan_hash"
LABEL_HOST_PORT = LABEL_PREFIX + "host_port"
SYNTHESIS_KINDS = catalog.synthesis_kinds()


class PlanCapacityError(ValueError):
    """The request does not fit the fleet; .report holds one entry per short service."""

    def __init__(self, report):
        super(PlanCapacityError, self).__init__(format_capacity_report(report))
        self.report = report


# ------------------------------------------------------------------------------------------ output

def plan_hash(static_digest, name, host_port):
    """Digest of what defines one container; a changed image, size, port or setting changes it."""
    return _plan_hash(hashlib.sha256(static_digest.encode("utf-8")), name, host_port)


def _plan_hash(digest_prefix, name, host_port):
    digest = digest_prefix.copy()
    digest.update(("|%s|%d" % (name, host_port)).encode("utf-8"))
    return digest.hexdigest()[:16]


def _container(replica):
    service = replica.service
    port = replica.port
    digest = _plan_hash(service.digest_prefix, replica.name, port)
    labels = {  # sorted by key, like every other mapping in the plan
        LABEL_HOST_PORT: str(port),
        LABEL_IMAGE: service.image,
        LABEL_KIND: service.kind,
        LABEL_MANAGED: "true",
        LABEL_PLAN_HASH: digest,
        LABEL_REPLICA: str(replica.index),
        LABEL_SERVICE: service.name,
    }
    return {
        "name": replica.name,
        "service": service.name,
        "kind": service.kind,
        "replica": replica.index,
        "image": service.image,
        "voice": service.voice,
        "host_port": port,
        "container_port": service.container_port,
        "cpus": service.cpu / MILLI,
        "memory_mb": service.memory,
        "model_memory_mb": service.model_memory_mb,
        "model_memory": service.model_memory,
        "sizing": _sizing(service),
        "settings": dict(service.settings),
        "pinned": replica.pinned,
        "plan_hash": digest,
        "labels": labels,
    }


def _sizing(service):
    """The sizing profile and, per figure, the variable it came from (preflight's messages name it)."""
    return dict(service.sized_by, profile=service.profile)


def _by_service_and_index(replica):
    return (replica.service.name, replica.index)


def _overcommitted(host, replicas):
    """Only pins can overcommit a host (see _settle_pinned); preflight then rejects it."""
    return bool(replicas) and (not host.avx2 or host.used_cpu > host.cap_cpu or host.used_mem > host.cap_mem)


def _allocated(host, replicas):
    """What the host's budget holds: the containers' --memory limits and the model memory counted beside them."""
    model_memory = sum(replica.service.host_model_mb for replica in replicas)
    return {"cpus": host.used_cpu / MILLI, "memory_mb": host.used_mem, "container_memory_mb": host.used_mem - model_memory,
            "model_memory_mb": model_memory}


def _render_hosts(hosts, placed):
    by_host = {}
    for replica in placed:
        by_host.setdefault(replica.host.index, []).append(replica)
    rendered = {}
    for host in hosts:
        replicas = sorted(by_host.get(host.index, ()), key=_by_service_and_index)
        planned = set(replica.name for replica in replicas)
        rendered[host.name] = {
            "address": host.address,
            "fault_domain": host.domain,
            "avx2": host.avx2,
            "capacity": {"cpus": host.cap_cpu / MILLI, "memory_mb": host.cap_mem},
            "allocated": _allocated(host, replicas),
            "overcommitted": _overcommitted(host, replicas),
            "containers": [_container(replica) for replica in replicas],
            "remove": sorted(set(entry["name"] for entry in host.current if entry["name"] not in planned)),
        }
    return rendered


def _backend(replica):
    return {"container": replica.name, "host": replica.host.name, "address": replica.host.address, "port": replica.port}


def assign_lb_ports(services, lb_port_base=DEFAULT_LB_PORT_BASE):
    """{service name: load-balancer frontend port}: a service's lb_port, else the next free port from
    lb_port_base in the order the services are listed in speech_services (append new services at the
    end, or give them lb_port, and no existing frontend moves)."""
    lb_port_base = _as_int(lb_port_base, "speech_lb_port_base", 1, " (the first load-balancer frontend port, e.g. 8000)")
    taken = {}
    for service in sorted(services.values(), key=lambda item: item.position):
        if service.lb_port is not None:
            if service.lb_port in taken:
                raise PlanInputError("%s.lb_port %d is also the lb_port of service %r: each service needs its own "
                                     "load-balancer port" % (service.where, service.lb_port, taken[service.lb_port]))
            taken[service.lb_port] = service.name
    ports = {}
    candidate = lb_port_base
    for service in sorted(services.values(), key=lambda item: item.position):
        if service.lb_port is not None:
            ports[service.name] = service.lb_port
            continue
        while candidate in taken:
            candidate += 1
        if candidate > 65535:
            raise PlanInputError("speech_lb_port_base %d leaves no load-balancer port for service %r: lower it or "
                                 "give the service an lb_port" % (lb_port_base, service.name))
        ports[service.name] = candidate
        taken[candidate] = service.name
    return ports


def _render_services(services, replicas, lb_ports):
    rendered = {}
    for name, service in services.items():
        placed = (replicas.get((name, index)) for index in range(1, service.replicas + 1))
        rendered[name] = {
            "kind": service.kind,
            "image": service.image,
            "voice": service.voice,
            "protocol": service.protocol,
            # the load balancer gives a synthesis service's WebSocket upgrades a backend of their own
            "synthesis": service.kind in SYNTHESIS_KINDS,
            "container_port": service.container_port,
            "lb_port": lb_ports[name],
            "replicas": service.replicas,
            "cpus": service.cpu / MILLI,
            "memory_mb": service.memory,
            "model_memory_mb": service.model_memory_mb,
            "model_memory": service.model_memory,
            "concurrency": service.concurrency,
            "capacity": service.replicas * service.concurrency,
            "backends": [_backend(replica) for replica in placed if replica is not None and replica.host is not None],
        }
    return rendered


def _render_moves(placed):
    moves = []
    for replica in placed:
        if replica.origin is not None and replica.origin is not replica.host:
            moves.append({"container": replica.name, "service": replica.service.name, "from": replica.origin.name,
                          "to": replica.host.name, "reason": replica.reason or "moved"})
    return sorted(moves, key=lambda move: move["container"])


def _warnings(services):
    """Every service's warnings (unknown tags allowed, retired or legacy kinds), in the order of speech_services."""
    return [warning for service in sorted(services.values(), key=lambda item: item.position) for warning in service.warnings]


def _render(planner, options):
    placed = [replica for replica in planner.replicas.values() if replica.host is not None]
    hosts = _render_hosts(planner.hosts, placed)
    moves = _render_moves(placed)
    return {
        "format": PLAN_FORMAT,
        "options": options,
        "hosts": hosts,
        "services": _render_services(planner.services, planner.replicas, assign_lb_ports(planner.services, options["lb_port_base"])),
        "moves": moves,
        "warnings": _warnings(planner.services),
        "summary": {
            "hosts": len(hosts),
            "containers": len(placed),
            "moves": len(moves),
            "removals": sum(len(host["remove"]) for host in hosts.values()),
            "overcommitted_hosts": sorted(name for name, host in hosts.items() if host["overcommitted"]),
        },
    }


def _capacity_report(planner):
    report = []
    for name, replicas in sorted(planner.unplaced.items()):
        service = planner.services[name]
        reasons = []
        for replica in sorted(replicas, key=lambda item: item.index):
            if replica.reason not in reasons:
                reasons.append(replica.reason)
        report.append({"service": name, "variable": service.where, "requested": service.replicas,
                       "unplaced": len(replicas), "cpus": service.cpu / MILLI, "memory_mb": service.memory,
                       "model_memory_mb": service.host_model_mb, "reasons": reasons})
    return report


def _replica_needs(entry):
    model = entry.get("model_memory_mb")
    return "%s cpus and %s MB%s" % ("%g" % entry["cpus"], count_text(entry["memory_mb"]),
                                    " (+ %s MB speech model memory on its host)" % count_text(model) if model else "")


def _capacity_line(entry):
    if "fits" in entry:  # from the fleet's room (_plan_capacity.shortfall), before any placement
        return "  - %s (%s.replicas): %s requested, at most %s fit, each needs %s: %s" % (
            entry["service"], entry["variable"], count_text(entry["requested"]), count_text(entry["fits"]),
            _replica_needs(entry), " | ".join(entry["reasons"]))
    return "  - %s (%s.replicas): %d of %d replicas could not be placed, each needs %s: %s" % (
        entry["service"], entry["variable"], entry["unplaced"], entry["requested"], _replica_needs(entry),
        " | ".join(entry["reasons"]))


def _capacity_fix(report):
    """The fix: each short service's replicas lowered to what fits (any one of them when only all together are too
    many), or more room."""
    room = "add or enlarge AVX2 hosts, lower speech_reserved_* or the sizing profile, or widen speech_port_base..speech_port_max"
    lowered = ["%s.replicas to at most %s" % (entry["variable"], count_text(entry["fits"])) if "fits" in entry else
               "%s.replicas (%d of %d placed)" % (entry["variable"], entry["requested"] - entry["unplaced"], entry["requested"])
               for entry in report]
    if any("alongside" in entry for entry in report) and len(lowered) > 1:
        return "Fix: lower %s (or several of them by less), or %s." % (" or ".join(lowered), room)
    return "Fix: lower %s, or %s." % (" and ".join(lowered), room)


def format_capacity_report(report):
    lines = ["speech_services does not fit the fleet; nothing was changed on any host:"]
    lines.extend(_capacity_line(entry) for entry in report)
    lines.append(_capacity_fix(report))
    return "\n".join(lines)


def build_plan(services, hosts, port_base=DEFAULT_PORT_BASE, port_max=DEFAULT_PORT_MAX, strategy=SPREAD, rebalance=False,
               max_moves=0, registry=DEFAULT_REGISTRY, profile=DEFAULT_PROFILE, allow_unknown_tags=False,
               lb_port_base=DEFAULT_LB_PORT_BASE, model_memory=sizing.DEFAULT_MODEL_MEMORY, allow_retired_kinds=False):
    """Place speech_services onto hosts; see the module docstring. Raises PlanInputError or PlanCapacityError."""
    with _cyclic_gc_paused():
        return _build_plan(services, hosts, port_base, port_max, strategy, rebalance, max_moves, registry, profile,
                           allow_unknown_tags, lb_port_base, model_memory, allow_retired_kinds)


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Pause the cyclic collector while a plan is built, restoring its state after.

    A plan allocates tens of thousands of acyclic objects, all freed by reference counting; meanwhile
    the collector would rescan the whole fleet input again and again. Measured with
    tests/bench/bench_plan.py: doubling the fleet cost 2.25-2.37x with it running, 2.08x paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build_plan(services, hosts, port_base, port_max, strategy, rebalance, max_moves, registry, profile, allow_unknown_tags,
                lb_port_base, model_memory, allow_retired_kinds):
    port_base, port_max, max_moves, profile = _check_options(port_base, port_max, strategy, max_moves, profile)
    parsed_services = parse_services(services, registry, profile, bool(allow_unknown_tags), model_memory, bool(allow_retired_kinds))
    assign_lb_ports(parsed_services, lb_port_base)  # input errors before any placement work
    parsed_hosts = parse_hosts(hosts, parsed_services, (port_base, port_max))
    _check_pin_totals(parsed_hosts, parsed_services)
    short = shortfall(parsed_services, parsed_hosts, (port_base, port_max))  # O(services + hosts), before any placement
    if short:
        raise PlanCapacityError(short)
    planner = _Planner(parsed_services, parsed_hosts, (port_base, port_max), strategy)
    current_by_name = _index_current(parsed_hosts)
    planner.place_pins(current_by_name)
    planner.keep_current(current_by_name)
    planner.place_missing()
    if planner.unplaced:
        raise PlanCapacityError(_capacity_report(planner))
    if rebalance:
        planner.rebalance(max_moves)
    options = {"port_base": port_base, "port_max": port_max, "strategy": strategy, "rebalance": bool(rebalance),
               "max_moves": max_moves, "registry": str(registry), "profile": profile, "lb_port_base": int(lb_port_base),
               "model_memory": model_memory}
    return _render(planner, options)
