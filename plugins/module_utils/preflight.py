# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Preflight checks of a speech host against its share of the plan, and of the fleet-wide inputs.

Pure functions; stdlib only; Python 3.8+. The filter speechops.speech.speech_preflight wraps them.
Input: the ``speech_host`` fact (module host_facts) and the host's planned containers
(``plan["hosts"][host]["containers"]``: memory_mb is each one's Docker --memory; model_memory_mb and model_memory say
how much speech model memory it maps and whether that counts in the host's budget beside the limit or inside it,
once per container either way (sizing.py)).
Every finding is {"check", "message", "fix"}; every failed check is reported, not only the first.
The API key is never put into a finding, a report or an exception, not even in part.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import ipaddress
import re
from urllib.parse import urlsplit

from ansible_collections.speechops.speech.plugins.module_utils import catalog, sizing

CHECK_AVX2 = "avx2"
CHECK_ARCHITECTURE = "architecture"
CHECK_CPUS = "cpus"
CHECK_MEMORY = "memory"
CHECK_CONTAINER_SIZE = "container_size"
CHECK_CLOCK = "clock"
CHECK_DISK = "disk"
CHECK_RETIRED = "retired"
CHECK_EULA = "eula"
CHECK_BILLING_ENDPOINT = "billing_endpoint"
CHECK_API_KEY = "api_key"

X86_64_NAMES = ("x86_64", "amd64")
CLOCK_SOURCE_CPUINFO = "cpuinfo"  # the current "cpu MHz", which VMs and power-saving hosts report low
CLOCK_SOURCE_UNKNOWN = "unknown"
CLOCK_POLICY_FAIL = "fail"
CLOCK_POLICY_WARN = "warn"
CLOCK_POLICIES = (CLOCK_POLICY_FAIL, CLOCK_POLICY_WARN)
SIZE_POLICY_FAIL = "fail"  # a container below Microsoft's minimum size fails the host
SIZE_POLICY_WARN = "warn"  # ... only warns: for emulated or test fleets, never for real containers
SIZE_POLICIES = (SIZE_POLICY_FAIL, SIZE_POLICY_WARN)
DEFAULT_MIN_CLOCK_MHZ = 2600  # "Each core must be >= 2.6 GHz" (contract 2: A1, D1, D4)
DEFAULT_DISK_HEADROOM_MB = 2048

# An ESTIMATE of the disk one image takes once pulled and extracted, per kind: the catalog's "image_disk_mb"
# (no image size is documented). Override per kind with the option image_disk_mb (variable speech_image_disk_mb)
# when the real sizes are known.
DEFAULT_IMAGE_DISK_MB = catalog.per_kind("image_disk_mb")

DEFAULT_OPTIONS = {
    "host": None,
    "reserved_cpus": 0,
    "reserved_memory_mb": 0,
    "min_clock_mhz": DEFAULT_MIN_CLOCK_MHZ,
    "clock_policy": CLOCK_POLICY_FAIL,
    "size_policy": SIZE_POLICY_FAIL,
    "image_disk_mb": None,
    "disk_headroom_mb": DEFAULT_DISK_HEADROOM_MB,
}
FLEET_INPUT_OPTIONS = ("eula", "billing_endpoint", "api_key", "allow_http_billing")
OPTION_NAMES = tuple(DEFAULT_OPTIONS) + FLEET_INPUT_OPTIONS

EULA_ACCEPT = "accept"
BILLING_SCHEME = "https"
SANDBOX_BILLING_SCHEME = "http"
SPEECH_ENDPOINT_SUFFIXES = (".cognitiveservices.azure.com", ".cognitive.microsoft.com")  # contract 5, A15
ENDPOINT_EXAMPLE = "https://<resource>.cognitiveservices.azure.com/"
MIN_API_KEY_LENGTH = 16  # Azure keys are 32 hex characters (older) or 84 characters (newer)
# Below this length a "key" cannot be a secret worth hiding, and scrubbing it would shred ordinary words.
MIN_SCRUBBED_KEY_LENGTH = 8
REDACTED = "<redacted>"
MAX_ECHOED_EULA_LENGTH = 12
API_KEY_PLACEHOLDER_WORDS = (  # compared after lower-casing and dropping everything but letters and digits
    "changeme", "replaceme", "yourkey", "yourapikey", "yourspeechkey", "yoursubscriptionkey",
    "placeholder", "insertkeyhere", "keyhere", "todo", "fixme", "dummy", "notset",
)
ANSIBLE_OMIT_PREFIX = "__omit_place_holder__"
VAULT_HEADER = "$ANSIBLE_VAULT;"
VAULT_FIX = "set speech_api_key from the vault: ansible-vault encrypt_string --name vault_speech_api_key, " \
            "then speech_api_key: \"{{ vault_speech_api_key }}\""


class PreflightInputError(ValueError):
    """Input of the wrong shape (a programming or wiring error, not a failed check); names the input."""


# --- small helpers ---------------------------------------------------------------------------------

def finding(check, message, fix):
    return {"check": check, "message": message, "fix": fix}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value, where, minimum=None):
    """A number input (None stays None), else PreflightInputError naming ``where``."""
    if value is None:
        return None
    if not _is_number(value):
        raise PreflightInputError("{0} must be a number, got {1}".format(where, type(value).__name__))
    if minimum is not None and value < minimum:
        raise PreflightInputError("{0} must be >= {1}, got {2}".format(where, minimum, value))
    return value


def _amount(value):
    """Numbers in messages: 8, 0.5, 7.25, 1048576 (never 1e+06)."""
    rounded = round(value, 3)
    return str(int(rounded)) if rounded == int(rounded) else ("%.3f" % rounded).rstrip("0")


def _exceeds(demand, capacity):
    # round: the sum of fractional cpus (0.1 + 0.2) must not fail by a float's last bit
    return round(demand, 3) > round(capacity, 3)


def _plural(count, word):
    return "{0} {1}{2}".format(count, word, "" if count == 1 else "s")


# --- inputs ----------------------------------------------------------------------------------------

def _options(options):
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise PreflightInputError("options must be a dict, got {0}".format(type(options).__name__))
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise PreflightInputError("unknown option(s) {0}: use {1}".format(", ".join(unknown), ", ".join(OPTION_NAMES)))
    merged = dict(DEFAULT_OPTIONS)
    merged.update((name, value) for name, value in options.items() if value is not None and name in DEFAULT_OPTIONS)
    for name in ("reserved_cpus", "reserved_memory_mb", "disk_headroom_mb"):
        _number(merged[name], name, minimum=0)
    _number(merged["min_clock_mhz"], "min_clock_mhz", minimum=0)
    if merged["clock_policy"] not in CLOCK_POLICIES:
        raise PreflightInputError("clock_policy must be one of {0}, got {1!r}".format(", ".join(CLOCK_POLICIES), merged["clock_policy"]))
    if merged["size_policy"] not in SIZE_POLICIES:
        raise PreflightInputError("size_policy must be one of {0}, got {1!r}".format(", ".join(SIZE_POLICIES), merged["size_policy"]))
    merged["image_disk_mb"] = _image_disk_mb(merged["image_disk_mb"])
    return merged


def _image_disk_mb(overrides):
    sizes = dict(DEFAULT_IMAGE_DISK_MB)
    if overrides is None:
        return sizes
    if not isinstance(overrides, dict):
        raise PreflightInputError("image_disk_mb must be a dict of kind -> MB, got {0}".format(type(overrides).__name__))
    for kind, megabytes in overrides.items():
        if kind not in catalog.KINDS:
            raise PreflightInputError("image_disk_mb: {0!r} is not a Speech container kind: use one of {1}".format(kind, ", ".join(catalog.KINDS)))
        sizes[kind] = _number(megabytes, "image_disk_mb[{0}]".format(kind), minimum=0)
    return sizes


def _containers(containers):
    if containers is None:
        return []
    if not isinstance(containers, (list, tuple)):
        raise PreflightInputError("containers must be a list of planned containers, got {0}".format(type(containers).__name__))
    for index, container in enumerate(containers):
        where = "containers[{0}]".format(index)
        if not isinstance(container, dict):
            raise PreflightInputError("{0} must be a dict, got {1}".format(where, type(container).__name__))
        for key in ("name", "kind"):
            if not isinstance(container.get(key), str) or not container.get(key):
                raise PreflightInputError("{0}.{1} must be a non-empty string".format(where, key))
        for key in ("cpus", "memory_mb"):
            if _number(container.get(key), "{0}.{1}".format(where, key), minimum=0) is None:
                raise PreflightInputError("{0}.{1} is missing".format(where, key))
        _number(container.get("model_memory_mb"), where + ".model_memory_mb", minimum=0)
        if container.get("model_memory") not in (None,) + sizing.MODEL_MEMORY_PLACES:
            raise PreflightInputError("{0}.model_memory must be one of {1}, got {2!r}".format(
                where, ", ".join(sizing.MODEL_MEMORY_PLACES), container.get("model_memory")))
    return list(containers)


def _facts(facts):
    if not isinstance(facts, dict):
        raise PreflightInputError("facts must be the speech_host fact (a dict), got {0}".format(type(facts).__name__))
    for key in ("vcpus_usable", "memory_usable_mb", "clock_mhz", "disk_free_mb"):
        _number(facts.get(key), "speech_host." + key)
    return facts


# --- host checks, in report order ------------------------------------------------------------------

def check_avx2(facts):
    if facts.get("avx2"):
        return []
    return [finding(
        CHECK_AVX2,
        "the CPU has no AVX2 (speech_host.avx2 is false): Azure AI Speech containers require a host CPU with AVX2; "
        "Microsoft: without it the container \"will not function correctly\"",
        "remove the host from speech_hosts or replace the hardware (on a VM, expose AVX2, e.g. CPU mode host-passthrough)",
    )]


def check_architecture(facts):
    architecture = facts.get("architecture")
    if architecture in X86_64_NAMES:
        return []
    return [finding(
        CHECK_ARCHITECTURE,
        "architecture is {0} (speech_host.architecture): the Speech images are built for x86_64 (amd64) only".format(architecture or "unknown"),
        "remove the host from speech_hosts or replace it with an x86_64 host",
    )]


def _sizes_listed(containers, key):
    return ", ".join("{0} {1}".format(container["name"], _amount(container[key])) for container in containers)


Resource = collections.namedtuple("Resource", "fact key reservation unit words service_keys")
RESOURCES = {
    CHECK_CPUS: Resource("vcpus_usable", "cpus", "speech_reserved_cpus", " cpus", "in all", "cpus"),
    CHECK_MEMORY: Resource("memory_usable_mb", "memory_mb", "speech_reserved_memory_mb", " MB", "of memory",
                           "memory_mb or model_memory_mb"),
}


def _model_memory_listed(models):
    """The speech model memory the host's budget counts, per container."""
    return ", ".join("{0} {1}".format(name, _amount(megabytes)) for name, megabytes in models.items())


def _demand_listed(check, containers):
    """What makes up a demand: each container's figure, and for memory the model memory counted beside the limits."""
    resource = RESOURCES[check]
    listed = "({0})".format(_sizes_listed(containers, resource.key))
    models = sizing.host_model_memory(containers) if check == CHECK_MEMORY else {}
    if not models:
        return listed
    limits = sum(container[resource.key] for container in containers)
    return "= --memory {0} MB {1} + speech model memory {2} MB beside the limits ({3})".format(
        _amount(limits), listed, _amount(sum(models.values())), _model_memory_listed(models))


def _capacity_finding(check, demand, usable, reserved, containers):
    resource = RESOURCES[check]
    unit = resource.unit
    return finding(
        check,
        "planned containers need {0}{1} {2} {3} but the host has {4}{1} usable (speech_host.{5}) minus {6} {7}{1} = {8}{1}".format(
            _amount(demand), unit, resource.words, _demand_listed(check, containers),
            _amount(usable), resource.fact, resource.reservation, _amount(reserved), _amount(usable - reserved)),
        "lower replicas or {0} in speech_services, lower {1}, or add hosts, then re-plan".format(resource.service_keys, resource.reservation),
    )


def resource_demand(containers, check):
    """The host's demand of one resource: the containers' cpus, or their --memory plus the model memory counted
    beside it (sizing.host_model_memory)."""
    demand = sum(container[RESOURCES[check].key] for container in containers)
    if check == CHECK_MEMORY:
        demand += sum(sizing.host_model_memory(containers).values())
    return demand


def check_capacity(facts, containers, check, reserved):
    """(failures, warnings, demand) of one resource: the planned containers' demand vs usable minus reserved."""
    resource = RESOURCES[check]
    demand = resource_demand(containers, check)
    usable = facts.get(resource.fact)
    if not containers:
        return [], [], demand
    if usable is None:
        return [], [finding(check, "speech_host.{0} could not be read: the {1} check was skipped".format(resource.fact, check),
                            "check the host by hand (nproc, free -m) or re-run speechops.speech.host_facts")], demand
    if not _exceeds(demand, usable - reserved):
        return [], [], demand
    return [_capacity_finding(check, demand, usable, reserved, containers)], [], demand


def _by_service(containers):
    """service name -> its containers on this host, in first-seen order (replicas share one size)."""
    grouped = {}
    for container in containers:
        grouped.setdefault(container.get("service") or container["name"], []).append(container)
    return grouped


def _describe_service(service, members):
    count = "" if len(members) == 1 else " ({0} containers on this host)".format(len(members))
    return "service {0} ({1}){2}".format(service, members[0]["kind"], count)


def _cores(cpus):
    return "{0} core{1}".format(_amount(cpus), "" if cpus == 1 else "s")


def _figures(minimum):
    """A documented minimum's source and figures: "D1: 2 cores, 2 GB"."""
    _year, source, cpus, memory_mb = minimum
    return "{0}: {1}, {2} GB".format(source, _cores(cpus), _amount(memory_mb / catalog.GIB))


def _is_profile_variable(variable):
    return variable.endswith("profile")


def _size_variable(container, service, field):
    """The variable that set a container's cpus or memory_mb (the plan's sizing), with the profile it named."""
    planned = container.get("sizing") or {}
    variable = planned.get(field) or "speech_services[{0}].{1}".format(service, field)
    if _is_profile_variable(variable) and planned.get("profile"):
        return "{0} {1}".format(variable, planned["profile"])
    return variable


def _shortfalls(container, service, floor):
    """[(field, figure, floor figure, variable)] where the container's own allocation is below the floor."""
    cpus, memory_mb = sizing.allocation(container)
    short = []
    if _exceeds(floor["cpus"], cpus):
        short.append(("cpus", cpus, floor["cpus"], _size_variable(container, service, "cpus")))
    if _exceeds(floor["memory_mb"], memory_mb):
        short.append(("memory_mb", memory_mb, floor["memory_mb"], _size_variable(container, service, "memory_mb")))
    return short


def _shortfall_text(shortfalls):
    return "; ".join("{0} {1} < {2} (set by {3})".format(field, _amount(figure), _amount(floor), variable)
                     for field, figure, floor, variable in shortfalls)


def _raise_fix(shortfalls, profile_target):
    """What to change: each service key raised to its floor; a sizing profile set to profile_target."""
    steps = []
    for field, _figure, floor, variable in shortfalls:
        name = variable.split(" ", 1)[0]
        step = "set {0} to {1}".format(name, profile_target) if _is_profile_variable(name) else "raise {0} to {1}".format(name, _amount(floor))
        if step not in steps:
            steps.append(step)
    return " and ".join(steps)


def _consequence(kind):
    requests = "recognitions" if catalog.decoder_setting(kind) else "requests"
    return ("it runs, but expect a slower first start while the models are paged in, fewer concurrent {0} than the "
            "catalog's figure, and failures under load (error 1011)".format(requests))


def _service_size_findings(service, members, size_policy):
    """(failures, warnings) of one service's size against the pages' minimums and the current recommended size."""
    container, kind, described = members[0], members[0]["kind"], _describe_service(service, members)
    current_minimum = sizing.documented_minimums(kind)[0]
    below_minimum = _shortfalls(container, service, catalog.resources(kind, catalog.MINIMUM))
    if not below_minimum:
        below_recommended = _shortfalls(container, service, catalog.resources(kind, catalog.RECOMMENDED))
        if not below_recommended:
            return [], []
        return [], [finding(
            CHECK_CONTAINER_SIZE,
            "{0} is below Microsoft's recommended size: {1}; expect slow or failing requests (error 1011 under load)".format(
                described, _shortfall_text(below_recommended)),
            _raise_fix(below_recommended, catalog.RECOMMENDED) + " for Microsoft's recommended size",
        )]
    older_page = sizing.page_minimum_met(kind, *sizing.allocation(container))
    if older_page is not None:
        return [], [finding(
            CHECK_CONTAINER_SIZE,
            "{0} meets the {1} page's minimum ({2}) but not the current page's ({3}): {4}; {5}".format(
                described, older_page[0], _figures(older_page), _figures(current_minimum), _shortfall_text(below_minimum),
                _consequence(kind)),
            "{0} for the current minimum; keep it only if the older page's size is what you mean to run".format(
                _raise_fix(below_minimum, catalog.MINIMUM + " or " + catalog.RECOMMENDED)),
        )]
    message = "{0} is below Microsoft's minimum size, the current page's ({1}) and every older page's: {2}".format(
        described, _figures(current_minimum), _shortfall_text(below_minimum))
    if size_policy == SIZE_POLICY_WARN:
        return [], [finding(CHECK_CONTAINER_SIZE, message,
                            "accepted by speech_size_policy: warn (emulated or test fleets only); real containers need the minimum")]
    return [finding(CHECK_CONTAINER_SIZE, message, _raise_fix(below_minimum, catalog.MINIMUM + " or " + catalog.RECOMMENDED))], []


def check_container_sizes(containers, size_policy=SIZE_POLICY_FAIL):
    """(failures, warnings) of each service's allocation (its --cpus and --memory without a model inside it):
    below the current recommended size warns; below the current minimum but at an older page's minimum warns, saying
    what that costs; below every documented minimum fails (warns under size_policy warn)."""
    failures, warnings = [], []
    for service, members in _by_service(containers).items():
        try:
            found = _service_size_findings(service, members, size_policy)
        except catalog.CatalogError as exc:
            found = [finding(CHECK_CONTAINER_SIZE, "{0}: {1}".format(_describe_service(service, members), exc),
                             "fix speech_services[{0}].kind".format(service))], []
        _extend(failures, warnings, found)
    return failures, warnings


def check_clock(facts, min_clock_mhz, clock_policy):
    """(failures, warnings) for the contract's "each core must be >= 2.6 GHz"."""
    clock_mhz, source = facts.get("clock_mhz"), facts.get("clock_source") or CLOCK_SOURCE_UNKNOWN
    if clock_mhz is None or source == CLOCK_SOURCE_UNKNOWN:
        return [], [finding(
            CHECK_CLOCK,
            "the CPU clock could not be read (speech_host.clock_source unknown); Microsoft requires each core >= {0} MHz".format(_amount(min_clock_mhz)),
            "confirm the CPU model's clock by hand",
        )]
    if clock_mhz >= min_clock_mhz:
        return [], []
    if source == CLOCK_SOURCE_CPUINFO:
        message = ("the CPU reports {0} MHz (speech_host.clock_mhz from /proc/cpuinfo \"cpu MHz\", the current clock, which VMs and "
                   "power-saving hosts report below their maximum); Microsoft requires each core >= {1} MHz")
    else:
        message = "the CPU clock is {0} MHz (speech_host.clock_mhz from " + source + "); Microsoft requires each core >= {1} MHz"
    if clock_policy == CLOCK_POLICY_WARN:
        fix = "accepted by speech_clock_policy: warn; use hosts with cores >= {0} MHz in production"
    else:
        fix = "use hosts with cores >= {0} MHz; if the real clock is that fast (a VM reporting low) or for a test fleet, set speech_clock_policy: warn"
    found = finding(CHECK_CLOCK, message.format(_amount(clock_mhz), _amount(min_clock_mhz)), fix.format(_amount(min_clock_mhz)))
    return ([], [found]) if clock_policy == CLOCK_POLICY_WARN else ([found], [])


def _images_by_kind(containers):
    """Distinct planned images -> kind; replicas and services sharing an image count once."""
    images = {}
    for container in containers:
        images.setdefault(container.get("image") or container["kind"], container["kind"])
    return images


def _images_present(facts):
    """Images our containers on the host already use: pulled, so they need no new disk."""
    return set(container.get("image") for container in facts.get("containers") or () if isinstance(container, dict) and container.get("image"))


def disk_demand(facts, containers, image_disk_mb, headroom_mb):
    """(estimated MB still to pull + headroom, or 0 with nothing to pull; images to pull; images already present)."""
    images = _images_by_kind(containers)
    present = _images_present(facts)
    to_pull = dict((image, kind) for image, kind in images.items() if image not in present)
    if not to_pull:
        return 0, to_pull, len(images) - len(to_pull)
    fallback = max(DEFAULT_IMAGE_DISK_MB.values())
    needed = sum(image_disk_mb.get(kind, fallback) for kind in to_pull.values()) + headroom_mb
    return needed, to_pull, len(images) - len(to_pull)


def check_disk(facts, containers, image_disk_mb, headroom_mb):
    needed, to_pull, already_present = disk_demand(facts, containers, image_disk_mb, headroom_mb)
    data_root = facts.get("docker_data_root") or "Docker's data root"
    if not to_pull:
        return [], [], needed
    free = facts.get("disk_free_mb")
    if free is None:
        return [], [finding(CHECK_DISK, "free disk at {0} could not be measured (speech_host.disk_free_mb); {1} to pull need about {2} MB".format(
            data_root, _plural(len(to_pull), "image"), _amount(needed)), "check free space by hand (df -m {0})".format(data_root))], needed
    if not _exceeds(needed, free):
        return [], [], needed
    present_note = " ({0} already present)".format(already_present) if already_present else ""
    return [finding(
        CHECK_DISK,
        "free disk at {0} is {1} MB (speech_host.disk_free_mb) but {2} to pull{3} need about {4} MB: {5} MB of images "
        "(an estimate, speech_image_disk_mb) + {6} MB headroom (speech_disk_headroom_mb)".format(
            data_root, _amount(free), _plural(len(to_pull), "distinct image"), present_note, _amount(needed),
            _amount(needed - headroom_mb), _amount(headroom_mb)),
        "free space under {0}, move Docker's data-root to a larger disk, or set speech_image_disk_mb to the real image sizes".format(data_root),
    )], [], needed


def check_retired(containers):
    """A warning per retired kind (planned only with speech_allow_retired_kinds) and per legacy kind on the host."""
    warnings = []
    for kind in sorted(set(container["kind"] for container in containers)):
        try:
            status = catalog.status_warning(kind)
        except catalog.CatalogError:
            continue  # reported by check_container_sizes
        if status:
            services = sorted(set(container.get("service") or container["name"] for container in containers if container["kind"] == kind))
            allowed = ", planned because speech_allow_retired_kinds is true" if catalog.is_retired(kind) else ""
            warnings.append(finding(CHECK_RETIRED, "{0} (service {1}{2})".format(status, ", ".join(services), allowed),
                                    "move service {0} to another kind in speech_services".format(", ".join(services))))
    return warnings


# --- fleet inputs ----------------------------------------------------------------------------------

def _check_eula(eula):
    if isinstance(eula, str) and eula.lower() == EULA_ACCEPT:
        return []
    if eula is None:
        shown = "unset"
    elif not isinstance(eula, str):
        shown = "a {0}, not the string accept".format(type(eula).__name__)
    else:  # a long value is not echoed: it may be another variable's secret pasted in the wrong place
        shown = "{0!r}".format(eula) if len(eula) <= MAX_ECHOED_EULA_LENGTH else "a {0}-character string".format(len(eula))
    return [finding(CHECK_EULA, "speech_eula is {0}: the containers start only with Eula=accept".format(shown),
                    "read Microsoft's license terms and set speech_eula: accept (the string, quoted if in doubt)")]


def _endpoint_parts(endpoint):
    """(scheme, hostname) of a URL, or None when it is not one; never echoes the raw value."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        return None
    try:
        parts = urlsplit(endpoint.strip())
        hostname = parts.hostname
    except ValueError:
        return None
    if not parts.scheme or not hostname:
        return None
    return parts.scheme.lower(), hostname.lower()


def _is_ip_address(hostname):
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _check_billing_endpoint(endpoint, allow_http_billing):
    """(failures, warnings)."""
    schemes = (BILLING_SCHEME, SANDBOX_BILLING_SCHEME) if allow_http_billing else (BILLING_SCHEME,)
    parts = _endpoint_parts(endpoint)
    if parts is None:
        state = "unset" if endpoint is None or endpoint == "" else "not a URL with a scheme and a host"
        return [finding(CHECK_BILLING_ENDPOINT, "speech_billing_endpoint is {0}".format(state),
                        "set speech_billing_endpoint to your Speech resource's endpoint, e.g. " + ENDPOINT_EXAMPLE)], []
    scheme, hostname = parts
    if scheme not in schemes:
        hint = "" if allow_http_billing else " (http only with speech_allow_http_billing: true, for sandbox/emulator fleets)"
        return [finding(CHECK_BILLING_ENDPOINT, "speech_billing_endpoint uses scheme {0}: use {1}{2}".format(scheme, " or ".join(schemes), hint),
                        "set speech_billing_endpoint to " + ENDPOINT_EXAMPLE)], []
    if allow_http_billing or hostname.endswith(SPEECH_ENDPOINT_SUFFIXES):
        return [], []
    kind = "an IP address" if _is_ip_address(hostname) else "host " + hostname
    return [], [finding(
        CHECK_BILLING_ENDPOINT,
        "speech_billing_endpoint points at {0}, not under {1}: not a Speech resource endpoint?".format(kind, " or ".join(SPEECH_ENDPOINT_SUFFIXES)),
        "fine for a private endpoint or custom domain; otherwise copy the endpoint from the Speech resource's Keys and Endpoint page",
    )]


def _api_key_problem(api_key):
    """Why the key is unusable, in words that reveal nothing of it; None when it looks like a real key."""
    if api_key is None or (isinstance(api_key, str) and not api_key.strip()):
        return "is not set"
    if not isinstance(api_key, str):
        return "is a {0}, not a string (quote it)".format(type(api_key).__name__)
    if api_key.startswith(ANSIBLE_OMIT_PREFIX):
        return "is not set (omit)"
    if api_key.startswith(VAULT_HEADER):
        return "is a vault ciphertext pasted as plain text, not the decrypted key"
    if api_key[0] + api_key[-1] in ("<>", "{}", "[]", "%%") or "{{" in api_key:
        return "is a placeholder or an unrendered template"
    if api_key != api_key.strip() or any(char.isspace() for char in api_key):
        return "contains whitespace (often a newline from a file lookup)"
    normalized = re.sub("[^a-z0-9]", "", api_key.lower())
    if not normalized or len(set(normalized)) == 1 or normalized.startswith("xxx") or "replace" in normalized \
            or any(word in normalized for word in API_KEY_PLACEHOLDER_WORDS):
        return "is a placeholder"
    if len(api_key) < MIN_API_KEY_LENGTH:
        return "is shorter than {0} characters".format(MIN_API_KEY_LENGTH)
    return None


def _check_api_key(api_key):
    problem = _api_key_problem(api_key)
    if problem is None:
        return []
    return [finding(CHECK_API_KEY, "speech_api_key {0}: the containers need the Speech resource's key for billing".format(problem), VAULT_FIX)]


def check_fleet_inputs(eula, billing_endpoint, api_key, allow_http_billing=False):
    """Failures of the fleet-wide inputs (run once on the controller). Warnings: fleet_input_warnings()."""
    return _check_eula(eula) + _check_billing_endpoint(billing_endpoint, allow_http_billing)[0] + _check_api_key(api_key)


def fleet_input_warnings(billing_endpoint, allow_http_billing=False):
    """Warnings of the fleet-wide inputs: an endpoint that does not look like a Speech resource's."""
    return _check_billing_endpoint(billing_endpoint, allow_http_billing)[1]


def scrub_secret(report, secret):
    """Replace the secret in every finding, defence in depth for swapped variables (say, key as endpoint)."""
    if not isinstance(secret, str) or len(secret) < MIN_SCRUBBED_KEY_LENGTH:
        return report
    pattern = re.compile(re.escape(secret), re.IGNORECASE)  # URL hostnames come back lower-cased
    for entries in (report["failures"], report["warnings"]):
        for entry in entries:
            for field in ("message", "fix"):
                entry[field] = pattern.sub(REDACTED, entry[field])
    return report


# --- the report ------------------------------------------------------------------------------------

def check_host(facts, containers, options=None):
    """Report of every check of one host: {"host", "failures", "warnings", "ok", "demand", "text"}.

    options: host, reserved_cpus, reserved_memory_mb, min_clock_mhz, clock_policy, size_policy, image_disk_mb, disk_headroom_mb;
    with any of eula, billing_endpoint, api_key (allow_http_billing) the fleet-input checks are folded in.
    Raises PreflightInputError on inputs of the wrong shape.
    """
    settings = _options(options)
    facts = _facts(facts)
    containers = _containers(containers)
    failures, warnings = [], []
    failures += check_avx2(facts)
    failures += check_architecture(facts)
    demand = {}
    for check, reserved in ((CHECK_CPUS, settings["reserved_cpus"]), (CHECK_MEMORY, settings["reserved_memory_mb"])):
        check_failures, check_warnings, demand[check] = check_capacity(facts, containers, check, reserved)
        _extend(failures, warnings, (check_failures, check_warnings))
    _extend(failures, warnings, check_container_sizes(containers, settings["size_policy"]))
    _extend(failures, warnings, check_clock(facts, settings["min_clock_mhz"], settings["clock_policy"]))
    disk_failures, disk_warnings, disk_mb = check_disk(facts, containers, settings["image_disk_mb"], settings["disk_headroom_mb"])
    _extend(failures, warnings, (disk_failures, disk_warnings))
    warnings += check_retired(containers)
    fleet = dict((name, options[name]) for name in FLEET_INPUT_OPTIONS if options and name in options)
    if set(fleet) - {"allow_http_billing"}:
        allow_http = bool(fleet.get("allow_http_billing"))
        failures += check_fleet_inputs(fleet.get("eula"), fleet.get("billing_endpoint"), fleet.get("api_key"), allow_http)
        warnings += fleet_input_warnings(fleet.get("billing_endpoint"), allow_http)
    report = {
        "host": settings["host"],
        "failures": failures,
        "warnings": warnings,
        "ok": not failures,
        "demand": {"cpus": round(demand[CHECK_CPUS], 3), "memory_mb": demand[CHECK_MEMORY],
                   "model_memory_mb": sum(sizing.host_model_memory(containers).values()), "disk_mb": disk_mb},
    }
    scrub_secret(report, fleet.get("api_key"))
    report["text"] = format_report(settings["host"], report)
    return report


def _extend(failures, warnings, found):
    failures.extend(found[0])
    warnings.extend(found[1])


def _finding_line(entry, label=""):
    return "  - [{0}] {1}{2} -> {3}".format(entry["check"], label, entry["message"], entry["fix"])


def check_fleet(eula, billing_endpoint, api_key, allow_http_billing=False):
    """Report of the fleet-wide inputs, checked once on the controller: {"failures", "warnings", "ok", "text"}."""
    report = {
        "failures": check_fleet_inputs(eula, billing_endpoint, api_key, allow_http_billing),
        "warnings": fleet_input_warnings(billing_endpoint, allow_http_billing),
    }
    report["ok"] = not report["failures"]
    scrub_secret(report, api_key)
    report["text"] = format_report(None, report, subject="fleet inputs")
    return report


def format_report(host, report, subject=None):
    """One block per host: a header line, then one line per failure, then one per warning."""
    host = subject or "host {0}".format("(unnamed)" if host is None else host)
    counts = "{0}, {1}".format(_plural(len(report["failures"]), "failure"), _plural(len(report["warnings"]), "warning"))
    if report["failures"]:
        header = "{0}: FAILED ({1})".format(host, counts)
    elif report["warnings"]:
        header = "{0}: OK ({1})".format(host, _plural(len(report["warnings"]), "warning"))
    else:
        header = "{0}: OK".format(host)
    lines = [header]
    lines += [_finding_line(entry) for entry in report["failures"]]
    lines += [_finding_line(entry, "warning: ") for entry in report["warnings"]]
    return "\n".join(lines)
