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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import gc
import hashlib
import heapq
import json
import math
import re

from ansible_collections.speechops.speech.plugins.module_utils import catalog
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import image_reference

PLAN_FORMAT = 1
DEFAULT_PORT_BASE = 5100
DEFAULT_LB_PORT_BASE = 8000
DEFAULT_PORT_MAX = 5999
DEFAULT_REGISTRY = "mcr.microsoft.com"
DEFAULT_PROFILE = "recommended"
SPREAD = "spread"
BINPACK = "binpack"
STRATEGIES = (SPREAD, BINPACK)
MILLI = 1000
UTILISATION_SCALE = 1000000
REBALANCE_CANDIDATES_PER_MOVE = 64
CONTAINER_PREFIX = "speech-"
LABEL_PREFIX = "speechops."
LABEL_MANAGED = LABEL_PREFIX + "managed"
LABEL_SERVICE = LABEL_PREFIX + "service"
LABEL_KIND = LABEL_PREFIX + "kind"
LABEL_REPLICA = LABEL_PREFIX + "replica"
LABEL_IMAGE = LABEL_PREFIX + "image"
LABEL_PLAN_HASH = LABEL_PREFIX + "plan_hash"
LABEL_HOST_PORT = LABEL_PREFIX + "host_port"
SERVICE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
SETTINGS_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]*$")
# Settings the speech_containers role writes itself, from its own (partly vaulted) variables.
ROLE_OWNED_SETTINGS = {
    "eula": "speech_eula", "billing": "speech_billing_endpoint", "apikey": "the vaulted speech_api_key",
    "http_proxy": "speech_http_proxy", "http_proxy_creds": "the vaulted speech_http_proxy_creds",
    "https_proxy": "speech_http_proxy", "no_proxy": "speech_no_proxy",
    "mounts:output": "speech_output", "mounts:license": "speech_disconnected", "downloadlicense": "playbooks/license.yml",
    "applicationinsights:instrumentationkey": "the vaulted speech_application_insights_key",
    "cloudai:sentimentanalysissettings:sentimentanalysisapikey": "the vaulted speech_sentiment_api_key",
}
SERVICE_KEYS = ("name", "kind", "replicas", "version", "locale", "voice", "preview", "model_id", "digest", "profile",
                "cpus", "memory_mb", "settings", "extra_settings", "lb_port", "decoder_max_count", "concurrency")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SERVICE_KEYS_WITH_STRINGS = ("version", "locale", "voice", "model_id", "profile", "digest")

REASON_NO_AVX2 = "no AVX2"
REASON_MEMORY = "memory"
REASON_CPUS = "cpus"
REASON_PORTS = "ports"
REFUSAL_WORDS = {
    REASON_NO_AVX2: "the host has no AVX2 (the Speech containers require it)",
    REASON_MEMORY: "too little free memory",
    REASON_CPUS: "too few free cpus",
    REASON_PORTS: "its host-port range is exhausted",
}


class PlanInputError(ValueError):
    """Bad input; the message names the variable and the fix."""


class PlanCapacityError(ValueError):
    """The request does not fit the fleet; .report holds one entry per short service."""

    def __init__(self, report):
        super(PlanCapacityError, self).__init__(format_capacity_report(report))
        self.report = report


# ------------------------------------------------------------------------------------ validation

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_int(value, where, minimum=0, hint=""):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not _is_int(value) or value < minimum:
        raise PlanInputError("%s must be an integer >= %d, got %r%s" % (where, minimum, value, hint))
    return value


def _as_milli(value, where, minimum_exclusive=False):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not _is_number(value) or not math.isfinite(value) or value < 0 or (minimum_exclusive and value <= 0):
        bound = "> 0" if minimum_exclusive else ">= 0"
        raise PlanInputError("%s must be a number %s (cores), got %r" % (where, bound, value))
    return int(round(value * MILLI))


def _as_optional_str(value, where):
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PlanInputError("%s must be a non-empty string, got %r" % (where, value))
    return str(value.strip())


def _is_mapping(value):
    return hasattr(value, "keys") and hasattr(value, "get") and not isinstance(value, str)


def _is_list(value):
    return isinstance(value, (list, tuple))


def _check_options(port_base, port_max, strategy, max_moves, profile):
    port_base = _as_int(port_base, "speech_port_base", 1, " (the first host port to hand out, e.g. 5100)")
    port_max = _as_int(port_max, "speech_port_max", 1)
    if port_base > 65535 or port_max > 65535:
        raise PlanInputError("speech_port_base..speech_port_max must lie within 1..65535, got %d..%d" % (port_base, port_max))
    if port_max < port_base:
        raise PlanInputError("speech_port_max (%d) must be >= speech_port_base (%d)" % (port_max, port_base))
    if strategy not in STRATEGIES:
        raise PlanInputError("speech_placement_strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    max_moves = _as_int(max_moves, "speech_max_moves")
    return port_base, port_max, max_moves, str(profile)


# -------------------------------------------------------------------------------------- services

class _Service:
    __slots__ = ("name", "position", "kind", "replicas", "cpu", "memory", "image", "settings", "container_port",
                 "protocol", "shape", "domain_counts", "static_digest", "digest_prefix", "lb_port", "concurrency")

    @property
    def where(self):
        return "speech_services[%d]" % self.position


def _service_name(raw, where):
    name = raw.get("name")
    if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
        raise PlanInputError(
            "%s.name must be 1-40 lowercase letters, digits and inner dashes (e.g. stt-en-us), got %r" % (where, name))
    return str(name)


def _service_kind(raw, where):
    kind = raw.get("kind")
    if kind not in catalog.KINDS:
        raise PlanInputError("%s.kind must be one of %s, got %r" % (where, ", ".join(catalog.KINDS), kind))
    return str(kind)


def _settings_mapping(raw, where, field):
    settings = raw.get(field)
    if settings is None:
        return {}
    if not _is_mapping(settings):
        raise PlanInputError("%s.%s must be a mapping of setting name to value, got %r" % (where, field, settings))
    return settings


def _service_settings(raw, where, kind, model_id):
    """settings: the kind's documented settings only; extra_settings: anything else, passed through as given."""
    documented = dict((name.lower(), name) for name in catalog.fact(kind, "settings", ()))
    clean = {}
    for field in ("settings", "extra_settings"):
        settings = _settings_mapping(raw, where, field)
        for key in settings.keys():
            if not isinstance(key, str) or not SETTINGS_KEY_RE.match(key):
                raise PlanInputError("%s.%s has an invalid setting name %r" % (where, field, key))
            if key.lower() in ROLE_OWNED_SETTINGS:
                raise PlanInputError("%s.%s.%s is not allowed: the role sets it from %s"
                                     % (where, field, key, ROLE_OWNED_SETTINGS[key.lower()]))
            if field == "settings" and key.lower() not in documented:
                raise PlanInputError(
                    "%s.settings.%s is not a documented setting of %s (documented: %s); if the container really takes it, "
                    "put it under %s.extra_settings" % (where, key, kind, ", ".join(sorted(
                        name for lower, name in documented.items() if lower not in ROLE_OWNED_SETTINGS)), where))
            name = documented.get(key.lower(), str(key)) if field == "settings" else str(key)
            clean[name] = _setting_value(settings[key], "%s.%s.%s" % (where, field, key))
    if model_id is not None:
        clean["ModelId"] = model_id
    return dict(sorted(clean.items()))


def _service_concurrency(raw, where, service):
    """Concurrent requests one container of the service serves: the load balancer's maxconn per server.

    Speech-to-text kinds: decoder_max_count (written as DECODER_MAX_COUNT, so the container changes with it), else
    settings.DECODER_MAX_COUNT, else the catalog. Other kinds: concurrency (an operator's measurement; the load
    balancer only, the container does not change), else the catalog (language identification by size).
    """
    decoder_setting = catalog.decoder_setting(service.kind)
    decoders, measured = raw.get("decoder_max_count"), raw.get("concurrency")
    if decoder_setting is None:
        if decoders is not None:
            raise PlanInputError(
                "%s.decoder_max_count is only for %s (the decoders of one container); "
                "for kind %s set %s.concurrency, the concurrent requests one container serves"
                % (where, " and ".join(catalog.decoder_kinds()), service.kind, where))
        if measured is not None:
            return _as_int(measured, where + ".concurrency", 1, ": the concurrent requests one container serves")
        return catalog.concurrency(service.kind, service.cpu / MILLI, service.memory)
    if measured is not None:
        raise PlanInputError(
            "%s.concurrency is not for kind %s: its containers serve as many recognitions at once as they have decoders; "
            "set %s.decoder_max_count" % (where, service.kind, where))
    in_settings = service.settings.get(decoder_setting)
    if decoders is not None:
        count = _as_int(decoders, where + ".decoder_max_count", 1,
                        ": the decoders of one container (%s), a positive integer" % decoder_setting)
        if in_settings is not None and in_settings != str(count):
            raise PlanInputError("%s.decoder_max_count %d and %s.settings.%s %s disagree: keep decoder_max_count only"
                                 % (where, count, where, decoder_setting, in_settings))
        service.settings = dict(sorted(dict(service.settings, **{decoder_setting: str(count)}).items()))
        return count
    if in_settings is not None:
        return _as_int(in_settings, "%s.settings.%s" % (where, decoder_setting), 1,
                       ": a positive integer; prefer %s.decoder_max_count" % where)
    return catalog.concurrency(service.kind, service.cpu / MILLI, service.memory)


def _check_service_keys(raw, where):
    unknown = sorted(str(key) for key in raw.keys() if key not in SERVICE_KEYS)
    if unknown:
        raise PlanInputError("%s has unknown key(s) %s: use %s" % (where, ", ".join(unknown), ", ".join(SERVICE_KEYS)))


def _setting_value(value, where):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        value = str(value)
        if "\n" in value or "\r" in value or "\0" in value:
            raise PlanInputError("%s must be one line: an env file cannot hold a line break" % where)
        return value
    raise PlanInputError("%s must be a string, number or boolean, got %r" % (where, value))


def _service_sizes(raw, where, kind, profile):
    try:
        sizes = catalog.resources(kind, profile)
    except ValueError as exc:
        raise PlanInputError("%s.profile: %s" % (where, exc))
    cpu = int(round(sizes["cpus"] * MILLI))
    memory = sizes["memory_mb"] + sizes.get("model_memory_mb", 0)
    if raw.get("cpus") is not None:
        cpu = _as_milli(raw["cpus"], where + ".cpus", minimum_exclusive=True)
    if raw.get("memory_mb") is not None:
        memory = _as_int(raw["memory_mb"], where + ".memory_mb", 1)
    return cpu, memory


def _service_image(raw, where, kind, registry, allow_unknown):
    try:
        image = str(image_reference(kind, version=raw.get("version"), locale=raw.get("locale"), voice=raw.get("voice"),
                                    registry=registry, allow_unknown=allow_unknown, preview=raw.get("preview")))
    except ValueError as exc:
        raise PlanInputError("%s: %s" % (where, exc))
    digest = raw.get("digest")
    if digest is None:
        return image
    if not DIGEST_RE.match(digest):
        raise PlanInputError("%s.digest must be sha256:<64 hex digits> (from docker buildx imagetools inspect), got %r" % (where, digest))
    return image + "@" + digest  # the tag stays for readers; Docker pulls and runs the digest


def _parse_service(raw, position, registry, profile, allow_unknown):
    where = "speech_services[%d]" % position
    if not _is_mapping(raw):
        raise PlanInputError("%s must be a mapping with name, kind and replicas, got %r" % (where, raw))
    _check_service_keys(raw, where)
    for key in SERVICE_KEYS_WITH_STRINGS:
        _as_optional_str(raw.get(key), "%s.%s" % (where, key))
    service = _Service()
    service.position = position
    service.name = _service_name(raw, where)
    service.kind = _service_kind(raw, where)
    if "replicas" not in raw:
        raise PlanInputError("%s.replicas is required: how many containers of %r to run (an integer >= 0)" % (where, service.name))
    service.replicas = _as_int(raw["replicas"], where + ".replicas")
    model_id = _as_optional_str(raw.get("model_id"), where + ".model_id")
    if catalog.needs_model_id(service.kind) and model_id is None:
        raise PlanInputError("%s.model_id is required for kind %s: the custom model's ID from Speech Studio" % (where, service.kind))
    service.cpu, service.memory = _service_sizes(raw, where, service.kind, raw.get("profile") or profile)
    service.shape = (service.cpu, service.memory)
    service.image = _service_image(raw, where, service.kind, registry, allow_unknown)
    service.settings = _service_settings(raw, where, service.kind, model_id)
    service.concurrency = _service_concurrency(raw, where, service)
    service.container_port = catalog.container_port(service.kind)
    service.protocol = catalog.protocol(service.kind)
    service.domain_counts = {}
    service.lb_port = None if raw.get("lb_port") is None else _as_int(raw["lb_port"], where + ".lb_port", 1)
    if service.lb_port is not None and service.lb_port > 65535:
        raise PlanInputError("%s.lb_port %d is not a port: pick one in 1..65535" % (where, service.lb_port))
    service.static_digest = _static_digest(service)
    service.digest_prefix = hashlib.sha256(service.static_digest.encode("utf-8"))
    return service


def _static_digest(service):
    definition = {"image": service.image, "kind": service.kind, "cpus": service.cpu, "memory_mb": service.memory,
                  "container_port": service.container_port, "settings": service.settings}
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))


def parse_services(services, registry=DEFAULT_REGISTRY, profile=DEFAULT_PROFILE, allow_unknown=False):
    """speech_services -> {name: _Service}; raises PlanInputError naming the bad entry."""
    if services is None:
        services = []
    if not _is_list(services):
        raise PlanInputError("speech_services must be a list of services, got %r" % (services,))
    by_name = {}
    for position, raw in enumerate(services):
        service = _parse_service(raw, position, registry, profile, allow_unknown)
        if service.name in by_name:
            raise PlanInputError("%s.name %r is used twice (also speech_services[%d]): service names must be unique"
                                 % (service.where, service.name, by_name[service.name].position))
        by_name[service.name] = service
    return dict(sorted(by_name.items()))


# ----------------------------------------------------------------------------------------- hosts

class _Host:
    __slots__ = ("name", "index", "address", "avx2", "domain", "cap_cpu", "cap_mem", "used_cpu", "used_mem",
                 "foreign_ports", "pin_ports", "assigned_ports", "ports_taken", "next_port", "tiebreak", "version",
                 "counts", "pins", "current")


def _host_tiebreak(name):
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:16], 16)


def _host_capacity(raw, where):
    vcpus = _as_milli(raw.get("vcpus_usable"), where + " speech_host.vcpus_usable")
    memory = _as_int(raw.get("memory_usable_mb"), where + " speech_host.memory_usable_mb")
    reserved_cpus = _as_milli(raw.get("reserved_cpus") or 0, where + " speech_reserved_cpus")
    reserved_memory = _as_int(raw.get("reserved_memory_mb") or 0, where + " speech_reserved_memory_mb")
    return max(vcpus - reserved_cpus, 0), max(memory - reserved_memory, 0)


def _host_ports_in_use(raw, where):
    ports = raw.get("ports_in_use") or []
    if not _is_list(ports):
        raise PlanInputError("%s ports_in_use must be a list of port numbers, got %r" % (where, ports))
    return set(_as_int(port, where + " ports_in_use[]", 1) for port in ports)


def _parse_pin(raw, where, services, port_range):
    if isinstance(raw, str):
        raw = {"service": raw}
    if not _is_mapping(raw) or not isinstance(raw.get("service"), str) or raw["service"] not in services:
        raise PlanInputError("%s must name a service of speech_services as {service: <name>, port: <optional int>}, got %r"
                             % (where, raw))
    port = raw.get("port")
    if port is not None:
        port = _as_int(port, where + ".port", 1)
        if not port_range[0] <= port <= port_range[1]:
            raise PlanInputError("%s.port %d is outside speech_port_base..speech_port_max (%d..%d): pick a port in "
                                 "range or widen the range" % (where, port, port_range[0], port_range[1]))
    return {"service": str(raw["service"]), "port": port}


def _host_pins(raw, where, services, port_range, ports_in_use):
    pins = raw.get("pins") or []
    if not _is_list(pins):
        raise PlanInputError("%s speech_pinned must be a list of {service, port}, got %r" % (where, pins))
    parsed = [_parse_pin(pin, "%s speech_pinned[%d]" % (where, number), services, port_range) for number, pin in enumerate(pins)]
    seen_ports = {}
    for number, pin in enumerate(parsed):
        port = pin["port"]
        if port is None:
            continue
        if port in ports_in_use:
            raise PlanInputError("%s speech_pinned[%d].port %d is already in use on the host by something else: pick another port"
                                 % (where, number, port))
        if port in seen_ports:
            raise PlanInputError("%s speech_pinned[%d].port %d collides with speech_pinned[%d].port: pinned ports must differ"
                                 % (where, number, port, seen_ports[port]))
        seen_ports[port] = number
    return parsed


def _host_current(raw, where):
    current = raw.get("current") or []
    if not _is_list(current):
        raise PlanInputError("%s current containers must be a list of {name, service, host_port}, got %r" % (where, current))
    entries = []
    for entry in current:
        if not _is_mapping(entry) or not isinstance(entry.get("name"), str):
            raise PlanInputError("%s current container entries need name, service and host_port, got %r" % (where, entry))
        port = entry.get("host_port")
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        service = entry.get("service")
        entries.append({"name": str(entry["name"]), "service": str(service) if isinstance(service, str) else None,
                        "host_port": port if _is_int(port) else None})
    return sorted(entries, key=lambda item: item["name"])


def _parse_host(name, raw, index, services, port_range):
    where = "host %s:" % name
    if not _is_mapping(raw):
        raise PlanInputError("%s host input must be a mapping (see speechops.speech.speech_host_inputs), got %r" % (where, raw))
    host = _Host()
    host.name = str(name)
    host.index = index
    host.address = str(raw.get("address") or name)
    host.avx2 = raw.get("avx2") is True
    domain = raw.get("fault_domain")
    host.domain = _as_optional_str(str(domain) if _is_int(domain) else domain, where + " speech_fault_domain")
    host.cap_cpu, host.cap_mem = _host_capacity(raw, where)
    host.used_cpu = host.used_mem = 0
    host.foreign_ports = _host_ports_in_use(raw, where)
    host.pins = _host_pins(raw, where, services, port_range, host.foreign_ports)
    host.current = _host_current(raw, where)
    host.pin_ports = set(pin["port"] for pin in host.pins if pin["port"] is not None)
    host.assigned_ports = set()
    # New containers never take a port that one of our current containers holds, even one about to be
    # removed: the container role may create before it removes.
    held_ports = set(entry["host_port"] for entry in host.current if entry["host_port"] is not None)
    host.ports_taken = host.foreign_ports | host.pin_ports | held_ports
    host.next_port = port_range[0]
    host.tiebreak = _host_tiebreak(host.name)
    host.version = 0
    host.counts = {}
    return host


def parse_hosts(hosts, services, port_range):
    """{inventory_hostname: host input} -> [_Host] sorted by name."""
    if hosts is None:
        hosts = {}
    if not _is_mapping(hosts):
        raise PlanInputError("the plan's hosts must be a mapping of inventory_hostname to host input "
                             "(build it with speechops.speech.speech_host_inputs), got %r" % (hosts,))
    names = sorted(str(name) for name in hosts.keys())
    return [_parse_host(name, hosts[name], index, services, port_range) for index, name in enumerate(names)]


def _check_pin_totals(hosts, services):
    pinned = {}
    for host in hosts:
        for pin in host.pins:
            pinned.setdefault(pin["service"], []).append(host.name)
    for name, pinned_hosts in sorted(pinned.items()):
        service = services[name]
        if len(pinned_hosts) > service.replicas:
            raise PlanInputError("speech_pinned pins %d replicas of %r (on %s) but %s.replicas is %d: raise replicas or drop pins"
                                 % (len(pinned_hosts), name, ", ".join(pinned_hosts), service.where, service.replicas))


# ------------------------------------------------------------------------------------- placement

class _Replica:
    __slots__ = ("service", "index", "name", "host", "port", "pinned", "origin", "origin_port", "reason")

    def __init__(self, service, index):
        self.service = service
        self.index = index
        self.name = container_name(service.name, index)
        self.host = None
        self.port = None
        self.pinned = False
        self.origin = None
        self.origin_port = None
        self.reason = None


def container_name(service_name, replica):
    return "%s%s-%d" % (CONTAINER_PREFIX, service_name, replica)


def _replica_index(entry, service):
    prefix = "%s%s-" % (CONTAINER_PREFIX, service.name)
    suffix = entry["name"][len(prefix):] if entry["name"].startswith(prefix) else ""
    if not suffix.isdigit() or suffix.startswith("0"):
        return None
    index = int(suffix)
    return index if 1 <= index <= service.replicas else None


class _FreshHostSearch:
    """One service's walk over the fault-domain heaps of its shape (see _Planner._place_on_fresh_hosts)."""

    def __init__(self, planner, service, stash):
        self.planner = planner
        self.service = service
        self.stash = stash
        self.groups = planner.heaps[service.shape]
        self.group_heap = planner.group_heaps[service.shape]
        self.registered = planner.registered[service.shape]
        self.aside = set()
        self.touched = set()
        self.used_domains = None

    def next_in_unused_domain(self):
        """(entry, domain) of the best host in a domain without this service, or None."""
        planner, service, group_heap = self.planner, self.service, self.group_heap
        while group_heap:
            item = heapq.heappop(group_heap)
            domain = item[4]
            if self.registered.get(domain) is not item:
                continue
            self.touched.add(domain)
            if domain in self.aside:
                continue
            if domain is not None and service.domain_counts.get(domain, 0) > 0:
                self.aside.add(domain)
                continue
            top = planner._clean_top(self.groups[domain], service.shape, service, self.stash)
            if top is None:
                continue
            if top[2] != item[2] or top[3] != item[3]:
                planner.register(service.shape, domain, top)
                continue
            return top, domain
        return None

    def next_in_used_domain(self):
        """Every domain holds the service: (entry, domain) in the domain with the fewest of it, or None."""
        if self.used_domains is None:
            self.used_domains = []
            for domain in sorted(self.aside, key=str):
                self._offer(domain)
        if not self.used_domains:
            return None
        _count, entry, domain = heapq.heappop(self.used_domains)
        return entry, domain

    def _offer(self, domain):
        top = self.planner._clean_top(self.groups[domain], self.service.shape, self.service, self.stash)
        if top is not None:
            heapq.heappush(self.used_domains, (self.planner._group_count(self.service, domain), top, domain))

    def after_placement(self, domain):
        if self.used_domains is not None:
            self._offer(domain)
            return
        if domain is not None:
            self.aside.add(domain)  # it holds the service now; _restore registers it again
            return
        top = self.planner._clean_top(self.groups[domain], self.service.shape, self.service, self.stash)
        if top is not None:
            self.planner.register(self.service.shape, domain, top)


class _Planner:
    """Mutable placement state for one build_plan() call."""

    def __init__(self, services, hosts, port_range, strategy):
        self.services = services
        self.hosts = hosts
        self.port_base, self.port_max = port_range
        self.spread = strategy == SPREAD
        self.replicas = {}
        self.unplaced = {}
        self.shapes = ()
        self.heaps = {}
        self.members = {}
        self.group_heaps = {}
        self.registered = {}
        self.touched_groups = set()

    # -- capacity and ports

    def fits(self, host, shape):
        if not (host.avx2 and host.used_cpu + shape[0] <= host.cap_cpu and host.used_mem + shape[1] <= host.cap_mem):
            return False
        port = host.next_port
        if port not in host.ports_taken:
            return port <= self.port_max
        return self._lowest_free_port(host) is not None

    def _lowest_free_port(self, host):
        port = host.next_port
        taken = host.ports_taken
        while port in taken:
            port += 1
        host.next_port = port
        return port if port <= self.port_max else None

    def _keeps_port(self, host, port, pinned_port=None):
        """A current container may keep its port unless something else now holds it."""
        if port is None or not self.port_base <= port <= self.port_max:
            return False
        if port in host.foreign_ports or port in host.assigned_ports:
            return False
        return port not in host.pin_ports or port == pinned_port

    def _fits_resources(self, host, service):
        return host.avx2 and host.used_cpu + service.cpu <= host.cap_cpu and host.used_mem + service.memory <= host.cap_mem

    def _occupy(self, host, replica, port):
        service = replica.service
        host.used_cpu += service.cpu
        host.used_mem += service.memory
        host.counts[service.name] = host.counts.get(service.name, 0) + 1
        if host.domain is not None:
            service.domain_counts[host.domain] = service.domain_counts.get(host.domain, 0) + 1
        host.ports_taken.add(port)
        host.assigned_ports.add(port)
        host.version += 1
        replica.host = host
        replica.port = port

    def _release(self, replica):
        """Frees the capacity; the port stays taken for this plan, the old container still holds it."""
        host, service = replica.host, replica.service
        host.used_cpu -= service.cpu
        host.used_mem -= service.memory
        host.counts[service.name] -= 1
        if host.domain is not None:
            service.domain_counts[host.domain] -= 1
        host.version += 1
        replica.host = None
        replica.port = None

    def _domain_count(self, service, host):
        if host.domain is None:
            return host.counts.get(service.name, 0)
        return service.domain_counts.get(host.domain, 0)

    def utilisation_key(self, host, shape):
        used = ((host.used_cpu + shape[0]) * UTILISATION_SCALE // host.cap_cpu
                + (host.used_mem + shape[1]) * UTILISATION_SCALE // host.cap_mem)
        return used if self.spread else -used

    def _new_replica(self, service, index, origin=None, origin_port=None):
        replica = _Replica(service, index)
        replica.origin = origin
        replica.origin_port = origin_port
        self.replicas[(service.name, index)] = replica
        return replica

    def _settle(self, host, replica, wanted_port, pinned_port=None, admit_any_size=False):
        """Occupies host with replica on wanted_port or the lowest free port; records why when it cannot."""
        if not admit_any_size and not self._fits_resources(host, replica.service):
            why = self._why_host_refuses(host, replica.service.shape)
            replica.reason = "%s: %s" % (host.name, REFUSAL_WORDS[why])
            return False
        port = wanted_port if self._keeps_port(host, wanted_port, pinned_port) else self._lowest_free_port(host)
        if port is None:
            replica.reason = "%s: %s" % (host.name, REFUSAL_WORDS[REASON_PORTS])
            return False
        self._occupy(host, replica, port)
        return True

    # -- phase 1: pins

    def place_pins(self, current_by_name):
        fresh_pins = []
        for host in self.hosts:
            for pin in sorted(host.pins, key=lambda item: (item["port"] is None, item["port"] or 0, item["service"])):
                if not self._pin_current(host, pin, current_by_name):
                    fresh_pins.append((host, pin))
        for host, pin in fresh_pins:
            service = self.services[pin["service"]]
            replica = self._new_replica(service, self._free_replica_index(service))
            self._settle_pinned(host, replica, pin["port"], pin["port"])

    def _pin_current(self, host, pin, current_by_name):
        service = self.services[pin["service"]]
        candidates = [entry for entry in host.current if current_by_name.get(entry["name"]) is host
                      and entry["service"] == service.name and _replica_index(entry, service) is not None
                      and (service.name, _replica_index(entry, service)) not in self.replicas]
        if not candidates:
            return False
        if pin["port"] is not None:
            candidates.sort(key=lambda entry: entry["host_port"] != pin["port"])
        entry = candidates[0]
        replica = self._new_replica(service, _replica_index(entry, service), host, entry["host_port"])
        self._settle_pinned(host, replica, pin["port"] or entry["host_port"], pin["port"])
        return True

    def _free_replica_index(self, service):
        """A pin without a container takes an idle replica number, else one that then moves to the pin."""
        claimed = set(index for name, index in self.replicas if name == service.name)
        unclaimed = [index for index in range(1, service.replicas + 1) if index not in claimed]
        running = set(_replica_index(entry, service) for host in self.hosts for entry in host.current
                      if entry["service"] == service.name)
        idle = [index for index in unclaimed if index not in running]
        return (idle or unclaimed)[0]

    def _settle_pinned(self, host, replica, wanted_port, pinned_port):
        """A pin is the operator's explicit placement (like a Kubernetes nodeName): it bypasses the AVX2 and
        capacity checks here, and preflight admits or rejects the host against it (like the kubelet).
        Only a port that cannot be had makes a pin unplaceable."""
        replica.pinned = True
        if not self._settle(host, replica, wanted_port, pinned_port, admit_any_size=True):
            replica.reason = "pinned by speech_pinned to " + replica.reason
            self.unplaced.setdefault(replica.service.name, []).append(replica)

    # -- phase 2: keep what runs

    def keep_current(self, current_by_name):
        for host in self.hosts:
            entries = [entry for entry in host.current if current_by_name.get(entry["name"]) is host]
            for entry in sorted(entries, key=self._keep_order):
                self._keep_entry(host, entry)

    def _keep_order(self, entry):
        service = self.services.get(entry["service"])
        index = _replica_index(entry, service) if service else None
        if index is None:
            return (1, (), 0, entry["name"])
        return (0, self._placement_rank(service), index, entry["name"])

    def _keep_entry(self, host, entry):
        service = self.services.get(entry["service"])
        index = _replica_index(entry, service) if service else None
        if index is None:
            return
        claimed = self.replicas.get((service.name, index))
        if claimed is not None:
            if claimed.host is not host:
                claimed.origin, claimed.origin_port, claimed.reason = host, entry["host_port"], "pinned to another host"
            return
        replica = self._new_replica(service, index, host, entry["host_port"])
        if self._settle(host, replica, entry["host_port"]):
            replica.reason = None
        else:
            replica.reason = "no longer fits on " + replica.reason

    # -- phase 3: place what is missing

    def _placement_rank(self, service):
        return (-service.memory, -service.cpu, service.name)

    def missing_replicas(self):
        missing = {}
        for service in self.services.values():
            indexes = [index for index in range(1, service.replicas + 1) if not self._is_settled(service, index)]
            if indexes:
                missing[service.name] = indexes
        return missing

    def _is_settled(self, service, index):
        replica = self.replicas.get((service.name, index))
        return replica is not None and (replica.host is not None or replica.pinned)

    def place_missing(self):
        missing = self.missing_replicas()
        self._build_heaps(set(self.services[name].shape for name in missing))
        for service in sorted((self.services[name] for name in missing), key=self._placement_rank):
            replicas = [self.replicas.get((service.name, index)) or self._new_replica(service, index, None, None)
                        for index in missing[service.name]]
            self._place_service(service, replicas)

    def _build_heaps(self, shapes):
        """Per shape: one heap of hosts per fault domain, and one heap of those heaps' tops."""
        self.shapes = tuple(sorted(shapes))
        for shape in self.shapes:
            groups = {}
            members = set()
            for host in self.hosts:
                if self.fits(host, shape):
                    groups.setdefault(host.domain, []).append(self._entry(host, shape))
                    members.add(host.index)
            for heap in groups.values():
                heapq.heapify(heap)
            registered = dict((domain, heap[0] + (domain,)) for domain, heap in groups.items())
            group_heap = list(registered.values())
            heapq.heapify(group_heap)
            self.registered[shape] = registered
            self.heaps[shape] = groups
            self.group_heaps[shape] = group_heap
            self.members[shape] = members

    def _entry(self, host, shape):
        used = ((host.used_cpu + shape[0]) * UTILISATION_SCALE // host.cap_cpu
                + (host.used_mem + shape[1]) * UTILISATION_SCALE // host.cap_mem)
        return (used if self.spread else -used, host.tiebreak, host.index, host.version)

    def _push(self, host, shape):
        """A fresh entry for host, registered for its group when it beats the group's registered top."""
        entry = self._entry(host, shape)
        heapq.heappush(self.heaps[shape][host.domain], entry)
        registered = self.registered[shape].get(host.domain)
        if registered is None or entry < registered[:4]:
            self.register(shape, host.domain, entry)

    def register(self, shape, domain, entry):
        """Group heap items are (host entry..., domain) and valid only while they are the group's registered item.

        The registered item is never above the group's true top, so groups are never ranked too late.
        """
        item = entry + (domain,)
        self.registered[shape][domain] = item
        heapq.heappush(self.group_heaps[shape], item)

    def _place_service(self, service, replicas):
        stash = []
        placed = self._place_on_fresh_hosts(service, replicas, stash)
        for number, replica in enumerate(replicas[placed:]):
            host = self._least_loaded_stashed_host(service, stash)
            if host is None:
                self._mark_unplaced(service, replicas[placed + number:])
                break
            self._place(host, replica)
        self._restore(service, stash)

    def _place_on_fresh_hosts(self, service, replicas, stash):
        """Places replicas on hosts without this service, fewest in the fault domain first; returns the count.

        Fault domains that already hold the service are set aside while any other domain has room, so a
        service costs O(its replicas + domains it touches), not O(all domains).
        """
        search = _FreshHostSearch(self, service, stash)
        placed = 0
        while placed < len(replicas):
            found = search.next_in_unused_domain() or search.next_in_used_domain()
            if found is None:
                break
            self._place_on_group_top(search, found, replicas[placed])
            placed += 1
        self.touched_groups = search.aside | search.touched
        return placed

    def _place_on_group_top(self, search, found, replica):
        entry, domain = found
        heap = search.groups[domain]
        heapq.heappop(heap)
        host = self.hosts[entry[2]]
        self._place(host, replica)
        search.stash.append(host)
        search.after_placement(domain)

    def _group_count(self, service, domain):
        return 0 if domain is None else service.domain_counts.get(domain, 0)

    def _clean_top(self, heap, shape, service=None, stash=None):
        """Drops stale and full hosts, stashes hosts holding the service; returns the usable top entry."""
        members = self.members[shape]
        while heap:
            entry = heap[0]
            host = self.hosts[entry[2]]
            if entry[3] != host.version:
                heapq.heappop(heap)
                if self.spread and self.fits(host, shape):
                    # Lazy refresh (see _refresh_other_shapes): the stale key was a lower bound.
                    heapq.heappush(heap, self._entry(host, shape))
            elif not self.fits(host, shape):
                heapq.heappop(heap)
                members.discard(host.index)
            elif service is not None and host.counts.get(service.name):
                heapq.heappop(heap)
                stash.append(host)
            else:
                return entry
        return None

    def _least_loaded_stashed_host(self, service, stash):
        """Every fitting host holds the service already: the full lexicographic score over the stash."""
        shape = service.shape
        best_score, best_host = None, None
        for host in stash:
            if not self.fits(host, shape):
                continue
            score = (host.counts.get(service.name, 0), self._domain_count(service, host),
                     self.utilisation_key(host, shape), host.tiebreak, host.index)
            if best_score is None or score < best_score:
                best_score, best_host = score, host
        return best_host

    def _place(self, host, replica):
        port = self._lowest_free_port(host)
        self._occupy(host, replica, port)
        self._refresh_other_shapes(host, replica.service.shape)

    def _refresh_other_shapes(self, host, own_shape):
        """Binpack only: a placement lowers the host's key in every other shape, so it gets a fresh entry now.

        Under spread the key only rises, so the stale entry is a valid lower bound and _clean_top
        refreshes it when it reaches the top.
        """
        if self.spread:
            return
        for shape in self.shapes:
            if shape == own_shape or host.index not in self.members[shape]:
                continue
            if self.fits(host, shape):
                self._push(host, shape)
            else:
                self.members[shape].discard(host.index)

    def _restore(self, service, stash):
        """Returns stashed hosts to the service's shape heaps and re-registers the groups it touched."""
        shape = service.shape
        seen = set()
        for host in stash:
            if host.index in seen:
                continue
            seen.add(host.index)
            if self.fits(host, shape):
                self._push(host, shape)
            else:
                self.members[shape].discard(host.index)
        groups = self.heaps[shape]
        for domain in sorted(self.touched_groups, key=str):
            top = self._clean_top(groups[domain], shape)
            if top is not None:
                self.register(shape, domain, top)
        self.touched_groups = set()

    def _mark_unplaced(self, service, replicas):
        reason = self._why_nothing_fits(service)
        for replica in replicas:
            replica.reason = replica.reason and "%s; %s" % (replica.reason, reason) or reason
        self.unplaced.setdefault(service.name, []).extend(replicas)

    # -- why a replica does not fit

    def _why_host_refuses(self, host, shape):
        if not host.avx2:
            return REASON_NO_AVX2
        if host.used_mem + shape[1] > host.cap_mem:
            return REASON_MEMORY
        if host.used_cpu + shape[0] > host.cap_cpu:
            return REASON_CPUS
        if self._lowest_free_port(host) is None:
            return REASON_PORTS
        return None

    def _why_nothing_fits(self, service):
        if not self.hosts:
            return "speech_hosts has no hosts"
        refusals = {}
        for host in self.hosts:
            reason = self._why_host_refuses(host, service.shape)
            refusals.setdefault(reason, []).append(host)
        return "; ".join(self._refusal_text(reason, hosts, service) for reason, hosts in
                         sorted(refusals.items(), key=lambda item: (-len(item[1]), str(item[0]))) if reason is not None)

    def _refusal_text(self, reason, hosts, service):
        share = "every host" if len(hosts) == len(self.hosts) else "%d of %d hosts" % (len(hosts), len(self.hosts))
        if reason == REASON_NO_AVX2:
            if len(hosts) == len(self.hosts):
                return "no host has AVX2 (the Speech containers require it)"
            return "no AVX2 on %s" % share
        if reason == REASON_MEMORY:
            largest = max(host.cap_mem - host.used_mem for host in hosts)
            return "too little memory on %s (needs %d MB, largest free %d MB)" % (share, service.memory, largest)
        if reason == REASON_CPUS:
            largest = max(host.cap_cpu - host.used_cpu for host in hosts)
            return "too few free cpus on %s (needs %s, largest free %s)" % (share, _cpus(service.cpu), _cpus(largest))
        return "port range %d-%d exhausted on %s (widen speech_port_max)" % (self.port_base, self.port_max, share)

    # -- phase 4: explicit rebalance

    def rebalance(self, max_moves):
        for _move in range(max_moves):
            move = self._best_improving_move()
            if move is None:
                return
            replica, destination = move
            self._release(replica)
            self._place(destination, replica)
            replica.reason = "rebalance"

    def _source_score(self, replica):
        host, service = replica.host, replica.service
        own = host.counts[service.name] - 1
        domain = own if host.domain is None else service.domain_counts[host.domain] - 1
        used = host.used_cpu * UTILISATION_SCALE // host.cap_cpu + host.used_mem * UTILISATION_SCALE // host.cap_mem
        return (own, domain, used if self.spread else -used)

    def _best_improving_move(self):
        """The worst-placed replica that has a strictly better host.

        Replicas are tried worst first; once the worst replica of a service (at a stacking level) has no
        better host, its better-placed siblings are skipped, and after REBALANCE_CANDIDATES_PER_MOVE such
        dead ends the search stops, which bounds a move to O(candidates x hosts).
        """
        scored = [(self._source_score(replica), replica.service.name, -replica.index, replica)
                  for replica in self.replicas.values() if replica.host is not None and not replica.pinned]
        scored.sort(key=lambda item: item[:3], reverse=True)
        hopeless = set()
        for source_score, service_name, _index, replica in scored:
            situation = (service_name, source_score[0])
            if situation in hopeless:
                continue
            destination = self._best_destination(replica, source_score)
            if destination is not None:
                return replica, destination
            hopeless.add(situation)
            if len(hopeless) >= REBALANCE_CANDIDATES_PER_MOVE:
                return None
        return None

    def _best_destination(self, replica, source_score):
        service, source = replica.service, replica.host
        best_score, best_host = source_score, None
        for host in self.hosts:
            if host is source or not self.fits(host, service.shape):
                continue
            same_domain = host.domain is not None and host.domain == source.domain
            score = (host.counts.get(service.name, 0), self._domain_count(service, host) - (1 if same_domain else 0),
                     self.utilisation_key(host, service.shape))
            if score < best_score or (best_host is not None and score == best_score and host.tiebreak < best_host.tiebreak):
                best_score, best_host = score, host
        return best_host


def _cpus(milli):
    return "%g" % (milli / MILLI)


def _index_current(hosts):
    """Container name -> the first host (by name) that runs it; later duplicates get removed."""
    current_by_name = {}
    for host in hosts:
        for entry in host.current:
            current_by_name.setdefault(entry["name"], host)
    return current_by_name


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
        "host_port": port,
        "container_port": service.container_port,
        "cpus": service.cpu / MILLI,
        "memory_mb": service.memory,
        "settings": dict(service.settings),
        "pinned": replica.pinned,
        "plan_hash": digest,
        "labels": labels,
    }


def _by_service_and_index(replica):
    return (replica.service.name, replica.index)


def _overcommitted(host, replicas):
    """Only pins can overcommit a host (see _settle_pinned); preflight then rejects it."""
    return bool(replicas) and (not host.avx2 or host.used_cpu > host.cap_cpu or host.used_mem > host.cap_mem)


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
            "allocated": {"cpus": host.used_cpu / MILLI, "memory_mb": host.used_mem},
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
            "protocol": service.protocol,
            "container_port": service.container_port,
            "lb_port": lb_ports[name],
            "replicas": service.replicas,
            "cpus": service.cpu / MILLI,
            "memory_mb": service.memory,
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
                       "reasons": reasons})
    return report


def format_capacity_report(report):
    lines = ["speech_services does not fit the fleet; nothing was changed on any host:"]
    for entry in report:
        lines.append("  - %s (%s): %d of %d replicas could not be placed, each needs %s cpus and %d MB: %s" % (
            entry["service"], entry["variable"], entry["unplaced"], entry["requested"], "%g" % entry["cpus"],
            entry["memory_mb"], " | ".join(entry["reasons"])))
    lines.append("Fix: lower replicas, add or enlarge AVX2 hosts, lower speech_reserved_* or the sizing profile, "
                 "or widen speech_port_base..speech_port_max.")
    return "\n".join(lines)


def build_plan(services, hosts, port_base=DEFAULT_PORT_BASE, port_max=DEFAULT_PORT_MAX, strategy=SPREAD, rebalance=False,
               max_moves=0, registry=DEFAULT_REGISTRY, profile=DEFAULT_PROFILE, allow_unknown_tags=False,
               lb_port_base=DEFAULT_LB_PORT_BASE):
    """Place speech_services onto hosts; see the module docstring. Raises PlanInputError or PlanCapacityError."""
    with _cyclic_gc_paused():
        return _build_plan(services, hosts, port_base, port_max, strategy, rebalance, max_moves, registry, profile,
                           allow_unknown_tags, lb_port_base)


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
                lb_port_base):
    port_base, port_max, max_moves, profile = _check_options(port_base, port_max, strategy, max_moves, profile)
    parsed_services = parse_services(services, registry, profile, bool(allow_unknown_tags))
    assign_lb_ports(parsed_services, lb_port_base)  # input errors before any placement work
    parsed_hosts = parse_hosts(hosts, parsed_services, (port_base, port_max))
    _check_pin_totals(parsed_hosts, parsed_services)
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
               "max_moves": max_moves, "registry": str(registry), "profile": profile, "lb_port_base": int(lb_port_base)}
    return _render(planner, options)


# ------------------------------------------------------------------------------ inventory inputs

def _current_from_facts(facts, hostvars_of_host):
    current = hostvars_of_host.get("speech_current_containers")
    if current is None:
        current = facts.get("containers") or []
    return current


def host_inputs(hostvars, hosts):
    """Build build_plan()'s hosts argument from Ansible hostvars for the given inventory hosts.

    The address is speech_address, else the fact primary_ipv4, else ansible_host, else the name.
    Reads the speech_host fact (vcpus_usable, memory_usable_mb, avx2) and the inventory variables
    speech_fault_domain, speech_reserved_cpus, speech_reserved_memory_mb, speech_pinned, plus
    speech_current_containers ([{name, service, host_port}] from the speechops.* labels) and
    speech_ports_in_use (ports held by anything else), falling back to speech_host.containers and
    speech_host.ports_in_use.
    """
    if not _is_list(hosts):
        raise PlanInputError("speech_host_inputs needs a list of inventory host names (e.g. groups['speech_hosts']), got %r" % (hosts,))
    inputs = {}
    for name in hosts:
        variables = hostvars[name]
        facts = variables.get("speech_host")
        if not _is_mapping(facts):
            raise PlanInputError("host %s: the speech_host fact is missing: run speechops.speech.host_facts on it first" % name)
        ports = variables.get("speech_ports_in_use")
        inputs[str(name)] = {
            "address": variables.get("speech_address") or facts.get("primary_ipv4") or variables.get("ansible_host") or name,
            "vcpus_usable": facts.get("vcpus_usable"),
            "memory_usable_mb": facts.get("memory_usable_mb"),
            "avx2": facts.get("avx2") is True,
            "fault_domain": variables.get("speech_fault_domain"),
            "reserved_cpus": variables.get("speech_reserved_cpus", 0),
            "reserved_memory_mb": variables.get("speech_reserved_memory_mb", 0),
            "pins": variables.get("speech_pinned") or [],
            "ports_in_use": ports if ports is not None else (facts.get("ports_in_use") or []),
            "current": _current_from_facts(facts, variables),
        }
    return inputs


# --------------------------------------------------------------------------------------- reports

def _percent(part, whole):
    return "%d%%" % (part * 100 // whole) if whole else "-"


def _table(rows):
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def plan_table(plan):
    """The plan as a text table: one row per container, then one utilisation row per host."""
    rows = [("HOST", "CONTAINER", "SERVICE", "PORT", "CPUS", "MEMORY_MB")]
    for host_name, host in plan["hosts"].items():
        for container in host["containers"]:
            rows.append((host_name, container["name"], container["service"], str(container["host_port"]),
                         "%g" % container["cpus"], str(container["memory_mb"])))
    usage = [("HOST", "CONTAINERS", "CPUS", "CPU%", "MEMORY_MB", "MEM%", "NOTE")]
    for host_name, host in plan["hosts"].items():
        capacity, allocated = host["capacity"], host["allocated"]
        usage.append((host_name, str(len(host["containers"])), "%g/%g" % (allocated["cpus"], capacity["cpus"]),
                      _percent(allocated["cpus"], capacity["cpus"]),
                      "%d/%d" % (allocated["memory_mb"], capacity["memory_mb"]),
                      _percent(allocated["memory_mb"], capacity["memory_mb"]),
                      "OVERCOMMITTED by speech_pinned: preflight rejects it" if host.get("overcommitted") else ""))
    lines = _table(rows) + [""] + _table(usage)
    return "\n".join(lines) + "\n"


def _url(scheme, address, port):
    host = "[%s]" % address if ":" in address else address
    return "%s://%s:%d" % (scheme, host, port)


def endpoints(plan, lb_address=None, lb_ports=None, lb_tls=False):
    """Endpoints catalog: service -> load-balancer URL (when lb_address and its port are known) and backends.
    lb_tls: the load balancer terminates TLS, so its URLs are https/wss."""
    lb_ports = lb_ports or {}
    if not _is_mapping(lb_ports):
        raise PlanInputError("the load balancer ports must map service names to frontend ports, got %r" % (lb_ports,))
    catalog_data = {}
    for name, service in plan["services"].items():
        scheme = "http" if service["protocol"] == "http" else "ws"
        lb_scheme = scheme.replace("http", "https") if scheme == "http" and lb_tls else ("wss" if lb_tls else scheme)
        lb_port = lb_ports.get(name, service.get("lb_port"))
        catalog_data[name] = {
            "kind": service["kind"],
            "protocol": service["protocol"],
            "url": _url(lb_scheme, str(lb_address), _as_int(lb_port, "the load balancer port of %s" % name, 1)) if lb_address and lb_port else None,
            "replicas": service["replicas"],
            "concurrency": service["concurrency"],
            "capacity": service["capacity"],
            "backends": [dict(backend, url=_url(scheme, backend["address"], backend["port"]),
                              ready_url=_url("http", backend["address"], backend["port"]) + "/ready")
                         for backend in service["backends"]],
        }
    return {"services": catalog_data}


def without(plan, services=(), hosts=()):
    """A copy of the plan without the given services and without anything on the given hosts
    (playbooks/remove.yml: what the load balancers keep while those are removed)."""
    services, hosts = set(services or ()), set(hosts or ())
    kept = copy.deepcopy(plan)
    kept["services"] = dict((name, service) for name, service in kept["services"].items() if name not in services)
    for service in kept["services"].values():
        service["backends"] = [backend for backend in service["backends"] if backend["host"] not in hosts]
    kept["hosts"] = dict((name, host) for name, host in kept["hosts"].items() if name not in hosts)
    for host in kept["hosts"].values():
        host["containers"] = [container for container in host["containers"] if container["service"] not in services]
    return kept


def lb_servers(plan, hosts=None):
    """The load balancers' servers of the containers planned on `hosts` (all hosts when None):
    [{backend: service, server: container, ready_url}], the haproxy_servers module's input."""
    wanted = None if hosts is None else set(hosts)
    servers = []
    for name, service in plan["services"].items():
        for backend in service["backends"]:
            if wanted is None or backend["host"] in wanted:
                servers.append({"backend": name, "server": backend["container"],
                                "ready_url": _url("http", backend["address"], backend["port"]) + "/ready"})
    return servers


def endpoints_markdown(catalog_data):
    """The endpoints catalog as a Markdown table."""
    lines = ["| Service | Kind | Endpoint | Concurrent requests per container | Capacity | Backends |",
             "|---|---|---|---|---|---|"]
    for name, service in catalog_data["services"].items():
        backends = "<br>".join("`%s` (%s)" % (backend["url"], backend["container"]) for backend in service["backends"])
        lines.append("| %s | %s | %s | %d | %d | %s |" % (
            name, service["kind"], "`%s`" % service["url"] if service["url"] else "-", service["concurrency"],
            service["capacity"], backends or "-"))
    return "\n".join(lines) + "\n"
