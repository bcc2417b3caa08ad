# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan's inputs: speech_services and the hosts' inputs, validated into _Service and _Host (private glue of plan.py).

Every bad input raises PlanInputError naming the variable and the fix. host_inputs() builds the hosts'
inputs from Ansible hostvars (the plan filter's hostvars=hostvars). Stdlib only; Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import re

from ansible_collections.speechops.speech.plugins.module_utils import catalog, sizing
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import resolve_image

DEFAULT_PORT_BASE = 5100
DEFAULT_LB_PORT_BASE = 8000
DEFAULT_PORT_MAX = 5999
DEFAULT_REGISTRY = "mcr.microsoft.com"
DEFAULT_PROFILE = "recommended"
SPREAD = "spread"
BINPACK = "binpack"
STRATEGIES = (SPREAD, BINPACK)
MILLI = 1000
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
                "cpus", "memory_mb", "model_memory_mb", "settings", "extra_settings", "lb_port", "decoder_max_count",
                "concurrency")
SIZING_PROFILE_VARIABLE = "speech_sizing_profile"
DECIMAL_RE = re.compile(r"^[0-9]{1,4000}$")
SHOWN_CHARS = 200
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SERVICE_KEYS_WITH_STRINGS = ("version", "locale", "voice", "model_id", "profile", "digest")


class PlanInputError(ValueError):
    """Bad input; the message names the variable and the fix."""


# ------------------------------------------------------------------------------------ validation

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _decimal(text):
    """The integer an ASCII decimal string spells (surrounding blanks allowed), or None (also for "²" or "１",
    which str.isdigit() accepts, and for more digits than Python converts)."""
    text = text.strip()
    if DECIMAL_RE.match(text):
        return int(text)
    return None


def _shown(value):
    """repr() of a bad value for a message: shortened, and never failing (Python refuses repr() of an int of over
    4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        return "an integer of over 4000 digits"
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def _as_int(value, where, minimum=0, hint=""):
    if isinstance(value, str) and _decimal(value) is not None:
        value = _decimal(value)
    if not _is_int(value) or value < minimum:
        raise PlanInputError("%s must be an integer >= %d, got %s%s" % (where, minimum, _shown(value), hint))
    return value


def _as_milli(value, where, minimum_exclusive=False):
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    milli = None
    if _is_number(value) and value >= 0 and (isinstance(value, int) or math.isfinite(value * MILLI)):
        milli = int(round(value * MILLI))
    # the plan counts millicores: a positive size must be one at least (0.0001 would be a container of no cpu)
    if milli is None or (minimum_exclusive and milli < 1):
        bound = ">= 0.001" if minimum_exclusive else ">= 0"
        raise PlanInputError("%s must be a number %s (cores), got %s" % (where, bound, _shown(value)))
    return milli


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
                 "protocol", "shape", "domain_counts", "static_digest", "digest_prefix", "lb_port", "concurrency",
                 "model_memory_mb", "model_memory", "host_model_mb", "profile", "sized_by",
                 "voice", "warnings")

    @property
    def where(self):
        return "speech_services[%d]" % self.position


def _service_name(raw, where):
    name = raw.get("name")
    if not isinstance(name, str) or not SERVICE_NAME_RE.fullmatch(name):
        raise PlanInputError(
            "%s.name must be 1-40 lowercase letters, digits and inner dashes (e.g. stt-en-us), got %r" % (where, name))
    return str(name)


def _service_kind(raw, where, allow_retired):
    kind = raw.get("kind")
    if kind not in catalog.KINDS:
        raise PlanInputError("%s.kind must be one of %s, got %r" % (where, ", ".join(catalog.KINDS), kind))
    if catalog.is_retired(kind) and not allow_retired:
        raise PlanInputError("%s.kind: %s; or set speech_allow_retired_kinds: true to deploy the retired image anyway"
                             % (where, catalog.status_warning(kind)))
    return str(kind)


def _status_warnings(where, kind):
    """The warning of a retired kind (planned because speech_allow_retired_kinds is true) or a legacy kind."""
    status = catalog.status_warning(kind)
    if status is None:
        return []
    if catalog.is_retired(kind):
        status += "; planned because speech_allow_retired_kinds is true"
    return ["%s.kind: %s" % (where, status)]


def _service_model_id(raw, where, kind):
    """model_id: required for the kinds that run a custom model, refused for the others."""
    model_id = _as_optional_str(raw.get("model_id"), where + ".model_id")
    if catalog.needs_model_id(kind) and model_id is None:
        raise PlanInputError("%s.model_id is required for kind %s: the custom model's ID (a GUID) from Speech Studio"
                             % (where, kind))
    if model_id is not None and not catalog.needs_model_id(kind):
        raise PlanInputError("%s.model_id is only for %s (the custom model to run); kind %s runs no custom model: "
                             "remove model_id" % (where, " and ".join(catalog.custom_model_kinds()), kind))
    return model_id


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
            if not isinstance(key, str) or not SETTINGS_KEY_RE.fullmatch(key):
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
    """(cpus in millicores, memory_mb, model_memory_mb, sized_by): the sizing profile's allocation and model memory,
    each replaced by the service's own cpus, memory_mb or model_memory_mb; sized_by names the variable behind each."""
    profile_variable = where + ".profile" if raw.get("profile") else SIZING_PROFILE_VARIABLE
    try:
        sizes = catalog.resources(kind, profile)
    except ValueError as exc:
        raise PlanInputError("%s: %s" % (profile_variable, exc))
    sized_by = dict.fromkeys(("cpus", "memory_mb", "model_memory_mb"), profile_variable)
    cpu = int(round(sizes["cpus"] * MILLI))
    memory, model_memory = sizes["memory_mb"], sizes["model_memory_mb"]
    if raw.get("cpus") is not None:
        cpu = _as_milli(raw["cpus"], where + ".cpus", minimum_exclusive=True)
        sized_by["cpus"] = where + ".cpus"
    if raw.get("memory_mb") is not None:
        memory = _as_int(raw["memory_mb"], where + ".memory_mb", 1)
        sized_by["memory_mb"] = where + ".memory_mb"
    if raw.get("model_memory_mb") is not None:
        if not sizing.has_model_memory(kind):
            raise PlanInputError("%s.model_memory_mb is only for the kinds that memory-map a speech model (%s), not %s: "
                                 "remove it" % (where, ", ".join(sizing.model_kinds()), kind))
        model_memory = _as_int(raw["model_memory_mb"], where + ".model_memory_mb", 0,
                               " (MB of speech model memory; 0 for an emulator that maps no model)")
        sized_by["model_memory_mb"] = where + ".model_memory_mb"
    return cpu, memory, model_memory, sized_by


def _size_service(service, raw, where, profile, model_memory):
    """Sets the service's --cpus, --memory, model memory and where it counts, and its placement shape."""
    service.profile = str(raw.get("profile") or profile)
    service.cpu, allocation, service.model_memory_mb, service.sized_by = _service_sizes(raw, where, service.kind, service.profile)
    service.model_memory = model_memory
    service.memory = sizing.container_limit_mb(allocation, service.model_memory_mb, model_memory)
    service.host_model_mb = sizing.host_model_mb(service.model_memory_mb, model_memory)
    service.shape = (service.cpu, service.memory + service.host_model_mb)


def _service_image(raw, where, kind, registry, allow_unknown):
    """(image, SSML voice or None, warnings): the image carries the voice's tag form, the smoke request its SSML name;
    each warning names the service's field."""
    try:
        resolved = resolve_image(kind, version=raw.get("version"), locale=raw.get("locale"), voice=raw.get("voice"),
                                 registry=registry, allow_unknown=allow_unknown, preview=raw.get("preview"), status_warning=False)
    except ValueError as exc:
        raise PlanInputError("%s: %s" % (where, exc))
    warnings = ["%s.%s" % (where, warning) for warning in resolved["warnings"]]  # each starts with its field: "voice: ..."
    digest = raw.get("digest")
    if digest is None:
        return str(resolved["image"]), resolved["ssml_voice"], warnings
    if not DIGEST_RE.fullmatch(digest):
        raise PlanInputError("%s.digest must be sha256:<64 hex digits> (from docker buildx imagetools inspect), got %r" % (where, digest))
    # the tag stays for readers; Docker pulls and runs the digest
    return str(resolved["image"]) + "@" + digest, resolved["ssml_voice"], warnings


def _parse_service(raw, position, registry, profile, allow_unknown, model_memory, allow_retired):
    where = "speech_services[%d]" % position
    if not _is_mapping(raw):
        raise PlanInputError("%s must be a mapping with name, kind and replicas, got %r" % (where, raw))
    _check_service_keys(raw, where)
    for key in SERVICE_KEYS_WITH_STRINGS:
        _as_optional_str(raw.get(key), "%s.%s" % (where, key))
    service = _Service()
    service.position = position
    service.name = _service_name(raw, where)
    service.kind = _service_kind(raw, where, allow_retired)
    if "replicas" not in raw:
        raise PlanInputError("%s.replicas is required: how many containers of %r to run (an integer >= 0)" % (where, service.name))
    service.replicas = _as_int(raw["replicas"], where + ".replicas")
    model_id = _service_model_id(raw, where, service.kind)
    service.image, service.voice, image_warnings = _service_image(raw, where, service.kind, registry, allow_unknown)
    service.warnings = image_warnings + _status_warnings(where, service.kind)
    _size_service(service, raw, where, profile, model_memory)
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


def parse_services(services, registry=DEFAULT_REGISTRY, profile=DEFAULT_PROFILE, allow_unknown=False,
                   model_memory=sizing.DEFAULT_MODEL_MEMORY, allow_retired=False):
    """speech_services -> {name: _Service}; raises PlanInputError naming the bad entry.
    model_memory (speech_model_memory): host or container, where the speech model memory counts.
    allow_retired (speech_allow_retired_kinds): plan a retired kind, with a warning, instead of refusing it."""
    try:
        model_memory = sizing.check_model_memory(model_memory)
    except ValueError as exc:
        raise PlanInputError(str(exc))
    if services is None:
        services = []
    if not _is_list(services):
        raise PlanInputError("speech_services must be a list of services, got %r" % (services,))
    by_name = {}
    for position, raw in enumerate(services):
        service = _parse_service(raw, position, registry, profile, allow_unknown, model_memory, allow_retired)
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
        if isinstance(port, str):
            port = _decimal(port)
        service = entry.get("service")
        entries.append({"name": str(entry["name"]), "service": str(service) if isinstance(service, str) else None,
                        "host_port": port if _is_int(port) else None})
    return sorted(entries, key=lambda item: item["name"])


def _parse_host(name, raw, index, services, port_range):
    where = "host %s:" % name
    if not _is_mapping(raw):
        raise PlanInputError("%s host input must be a mapping (or give the plan filter hostvars=hostvars), got %r" % (where, raw))
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
                             "(or give the plan filter the host names and hostvars=hostvars), got %r" % (hosts,))
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
        raise PlanInputError("the plan filter with hostvars needs a list of inventory host names (e.g. groups['speech_hosts']), got %r" % (hosts,))
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
