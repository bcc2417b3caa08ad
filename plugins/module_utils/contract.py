# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The variables' contract: every documented variable's type, form, default and where its value ends up.

RULES is the one table: {variable: Rule(type, form, default, used)}. check(variables) returns every violation of a
set of variables ({name: value}, as one host sees them), each {"check", "message", "fix"} naming the variable the
operator set (speech_services[2].replicas, not the container it became). check_hosts() checks several hosts'
variables and reports each distinct violation once. The filter speechops.speech.speech_contract runs it once, on
the controller, first in the preflight role's facts entry point; scripts/role_docs.py writes the table into
docs/variables.md.

Values as YAML and -e give them: an integer may be a string of digits (-e name=300), a boolean one of the words
Ansible reads as one; a boolean is never a number, NaN and infinities are not numbers. Text that ends up in a file,
a header or a command has no control character and no leading or trailing whitespace. The value of a secret is
never put into a message. Pure functions; stdlib only; Python 3.8+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible_collections.speechops.speech.plugins.module_utils import catalog, firewall
from ansible_collections.speechops.speech.plugins.module_utils._plan_inputs import (
    DIGEST_RE,
    SERVICE_KEYS,
    SERVICE_NAME_RE,
    SETTINGS_KEY_RE,
)
from ansible_collections.speechops.speech.plugins.module_utils._scrub import scrub_text
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import REGISTRY_RE

Rule = collections.namedtuple("Rule", ("type", "form", "default", "used"))
# text: the rule in words (docs and messages); findings(value, where, variables) -> [finding]
Form = collections.namedtuple("Form", ("text", "findings"))

MAX_REPLICAS = 10000  # per service: the plan is measured up to 10,000 replicas (docs/performance.md)
MAX_CPUS = 1024
MAX_MEMORY_MB = 16 * 1024 * 1024  # 16 TiB
MAX_SECONDS = 7 * 24 * 3600
MAX_LINE = 4096
MAX_TEXT = 64 * 1024  # PEM text: a key and a certificate chain
MAX_SHOWN = 80
MAX_DEPTH = 20
TRUE_WORDS = ("true", "yes", "on", "y", "t", "1")
FALSE_WORDS = ("false", "no", "off", "n", "f", "0")
# Control characters, format characters (zero-width, BOM), surrogates, private use, line and paragraph separators.
CONTROL_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
INTEGER_TEXT_RE = re.compile(r"^[+-]?[0-9]{1,18}$")
NUMBER_TEXT_RE = re.compile(r"^[+-]?([0-9]{1,18}(\.[0-9]{0,18})?|\.[0-9]{1,18})$")
HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[0-9]{1,5})?(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                      r"(@sha256:[0-9a-f]{64})?$")
HAPROXY_TIME_RE = re.compile(r"^[0-9]{1,9}(us|ms|s|m|h|d)?$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MONTH_RE = re.compile(r"^(0[1-9]|1[0-2])/[0-9]{4}$")
PERCENT_RE = re.compile(r"^([0-9]{1,3})%$")
PORT_TEXT_RE = re.compile(r"^[0-9]{1,5}$")
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$")
VRRP_PASSWORD_RE = re.compile(r"^\S{1,8}$")
# A client key is token68 (RFC 7235), so that it travels unchanged as Authorization: Bearer <key> as well.
CLIENT_KEY_RE = re.compile(r"^[A-Za-z0-9._~+/-]{16,1024}=*$")
CLIENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
LB_AUTH_MODES = ("keys", "mtls", "none")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,252}$")  # inventory hosts, container names, units
PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._:~-]{0,127}$")
LOG_DRIVER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
OPTION_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
BALANCE_RE = re.compile(r"^(roundrobin|static-rr|leastconn|first|source|random|uri|url_param|hdr|rdp-cookie|hash)"
                        r"([ (].*)?$")
SUBJECT_ALT_NAME_RE = re.compile(r"^(DNS|IP|email|URI|RID|dirName|otherName):\S+$")
CERT_RELATIVE_TIME_RE = re.compile(r"^[+-]([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$")
CERT_ABSOLUTE_TIME_RE = re.compile(r"^[0-9]{14}Z$")
PEM_BEGIN = "-----BEGIN "
LOG_LEVELS = ("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None")
DISPLAY_MODEL_TYPES = ("Rescore", "Punct", "Resegment", "Wfstitn", "FullDisplay")
DISPLAY_MODEL_ID_SETTINGS = ("RescoreId", "PunctId", "ResegmentId", "WfstitnId")
ENDPOINT_EXAMPLE = "https://<resource>.cognitiveservices.azure.com/"
ANSIBLE_OMIT_PREFIX = "__omit_place_holder__"
REDACTED = "<redacted>"
MIN_SCRUBBED_SECRET_LENGTH = 8
MAX_HOSTS_NAMED = 5


# ------------------------------------------------------------------------------------------ values

def finding(variable, message, fix):
    """One violation; variable is the top-level variable, the message names the exact item."""
    return {"check": variable.split("[", 1)[0].split(".", 1)[0], "message": message, "fix": fix}


def _is_mapping(value):
    return isinstance(value, Mapping)


def _is_list(value):
    return isinstance(value, (list, tuple))


def shown(value):
    """A value for a message: short, one line, control characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = scrub_text(value)  # a URL's password: http://user:<masked>@host
        if len(text) > MAX_SHOWN:
            return "{0!r}... ({1} characters)".format(text[:MAX_SHOWN], len(value))
        return repr(text)
    if isinstance(value, int):
        text = repr(int(value))
        return text if len(text) <= MAX_SHOWN else "an integer of {0} digits".format(len(text.lstrip("-")))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, datetime.date):
        return "the date {0} (unquoted in YAML)".format(value.isoformat())
    if _is_mapping(value):
        return "a mapping"
    if _is_list(value):
        return "a list"
    return "a {0}".format(type(value).__name__)


def shown_secret(value):
    """A secret for a message: its type and length, never a character of it."""
    if isinstance(value, str):
        return "a {0}-character string".format(len(value))
    return shown(value) if value is None or isinstance(value, bool) else "a {0}".format(type(value).__name__)


def as_bool(value):
    """True or False for a boolean or a word Ansible reads as one; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
    return None


def as_int(value):
    """An int (not a bool), or a string of digits as -e gives it; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and INTEGER_TEXT_RE.fullmatch(value):
        return int(value)
    return None


def as_number(value):
    """A finite int or float (not a bool), or a decimal string; None for anything else, NaN and infinities."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = int(value)
        return number if abs(number) < 10 ** 18 else None
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and NUMBER_TEXT_RE.fullmatch(value):
        return float(value)
    return None


def text_problem(value, max_length=MAX_LINE, multiline=False):
    """Why a string cannot go into a file, a header or a command as it is; None when it can."""
    if not isinstance(value, str):
        return "not a string"
    if len(value) > max_length:
        return "longer than {0} characters".format(max_length)
    allowed = "\n\r\t" if multiline else ""
    if not value.isprintable() and any(char not in allowed and unicodedata.category(char) in CONTROL_CATEGORIES for char in value):
        return "a control character"
    if not multiline and value != value.strip():
        return "leading or trailing whitespace"
    return None


def is_host(text):
    """An IP address or a DNS name."""
    if not isinstance(text, str) or not text or len(text) > 253:
        return False
    if is_ip(text):
        return True
    return all(HOST_LABEL_RE.fullmatch(label) for label in text[:-1 if text.endswith(".") else None].split("."))


def is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_cidr(text):
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _host_and_port(text):
    """(host, port or None) of host[:port] or [v6]:port; None when it is not one."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not is_ip(host) or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if port is not None and not (PORT_TEXT_RE.fullmatch(port) and 1 <= int(port) <= 65535):
        return None
    return (host, port) if is_host(host) else None


# ------------------------------------------------------------------------------------------- forms

def violation(where, text, value, fix, secret=False, reason=None):
    message = "{0} must be {1}, got {2}".format(where, text, shown_secret(value) if secret else shown(value))
    if reason:
        message += " ({0})".format(reason)
    return finding(where, message, fix)


def simple(text, example, problem, fix=None, secret=False):
    """A form checked by problem(value) -> None when it holds, else a reason ("" for none worth saying)."""
    def findings(value, where, variables):
        reason = problem(value)
        if reason is None:
            return []
        return [violation(where, text, value, fix or "set {0} to {1}".format(where, example), secret, reason)]
    return Form(text, findings)


def boolean():
    return simple("true or false", "true or false", lambda value: None if as_bool(value) is not None else "")


def _bounds_text(minimum, maximum):
    return ">= {0}".format(minimum) + ("" if maximum is None else " and <= {0}".format(maximum))


def integer(minimum, maximum=None, unit="", example=None):
    text = "an integer {0}{1}".format(_bounds_text(minimum, maximum), unit)

    def problem(value):
        number = as_int(value)
        if number is None:
            return "a boolean is not a number" if isinstance(value, bool) else ""
        return None if number >= minimum and (maximum is None or number <= maximum) else ""
    return simple(text, example if example is not None else "an integer {0}".format(_bounds_text(minimum, maximum)), problem)


def number(minimum, maximum, minimum_exclusive=False, unit="", example=None):
    bound = ("> {0}" if minimum_exclusive else ">= {0}").format(minimum) + " and <= {0}".format(maximum)
    text = "a number {0}{1}, finite".format(bound, unit)

    def problem(value):
        amount = as_number(value)
        if amount is None:
            return "a boolean is not a number" if isinstance(value, bool) else ""
        too_small = amount <= minimum if minimum_exclusive else amount < minimum
        return "" if too_small or amount > maximum else None
    return simple(text, example or "a number {0}".format(bound), problem)


def one_of(choices, ignore_case=False, example=None):
    listed = ", ".join(choice if choice else '"" (empty)' for choice in choices)
    text = "one of {0}{1}".format(listed, " (any case)" if ignore_case else "")
    folded = [choice.lower() for choice in choices] if ignore_case else list(choices)

    def problem(value):
        if not isinstance(value, str):
            return ""
        return None if (value.lower() if ignore_case else value) in folded else ""
    named = [choice for choice in choices if choice]
    return simple(text, example or (" or ".join(named) if len(named) <= 2 else "one of " + ", ".join(named)), problem)


def line(text, example, pattern=None, allow_empty=False, check=None, max_length=MAX_LINE, fix=None, secret=False):
    """A one-line string: no control character, no leading or trailing whitespace; matching pattern and check."""
    def problem(value):
        if allow_empty and value == "":
            return None
        reason = text_problem(value, max_length)
        if reason is not None:
            return "" if reason == "not a string" else reason
        if value == "" or (pattern is not None and not pattern.fullmatch(value)):
            return ""
        return None if check is None or check(value) else ""
    return simple(("empty, or " if allow_empty else "") + text, example, problem, fix, secret)


def url(schemes, example, allow_empty=True, allow_path=False, allow_userinfo=False, extra=""):
    """A URL with a scheme of schemes and a host, an optional port, and nothing else (unless allowed)."""
    userinfo = "[user:password@]" if allow_userinfo else ""
    parts_text = "{0}://{1}host[:port]{2}".format(schemes[0], userinfo, "[/path]" if allow_path else "")
    others = "".join(" (or {0}://)".format(scheme) for scheme in schemes[1:])
    text = "a URL {0}{1} and nothing else{2}".format(parts_text, others, extra)
    return line(text, example, check=lambda value: _url_ok(value, schemes, allow_path, allow_userinfo), allow_empty=allow_empty)


def _url_ok(value, schemes, allow_path, allow_userinfo):
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes or not parts.hostname or parts.query or parts.fragment or "?" in value \
            or "#" in value or (port is not None and not 1 <= port <= 65535):
        return False
    if (parts.username is not None or parts.password is not None) and not allow_userinfo:
        return False
    host = parts.hostname
    if not (is_host(host) or (":" in host and is_ip(host))):
        return False
    return allow_path or parts.path in ("", "/")


def absolute_path(allow_empty=False, mounted=False, example="/var/lib/speechops", fix=None):
    text = "an absolute path without '..'" + (", ':' or ',' (Docker mounts it)" if mounted else "")

    def check(value):
        if not value.startswith("/") or ".." in value.split("/"):
            return False
        return not (mounted and (":" in value or "," in value))
    return line(text, example, check=check, allow_empty=allow_empty, fix=fix)


def controller_path(allow_empty=False, example="/srv/speechops/artifacts"):
    return line("a folder on the controller (one line)", example, allow_empty=allow_empty)


def _list_findings(value, where, element, minimum_items, unique):
    if not _is_list(value):
        return None
    found = []
    for index, item in enumerate(value):
        found += element.findings(item, "{0}[{1}]".format(where, index), None)
    if len(value) < minimum_items:
        found.append(finding(where, "{0} must have at least {1} item(s), got none".format(where, minimum_items),
                             "list at least one in {0}".format(where)))
    if unique and not found:
        seen = set()
        for index, item in enumerate(value):
            key = repr(item)
            if key in seen:
                found.append(finding(where, "{0}[{1}] {2} is listed twice".format(where, index, shown(item)),
                                     "list it once in {0}".format(where)))
            seen.add(key)
    return found


def list_of(element, minimum_items=0, unique=False):
    text = "a list" + (" of at least {0}".format(minimum_items) if minimum_items else "") + ", each " + element.text

    def findings(value, where, variables):
        found = _list_findings(value, where, element, minimum_items, unique)
        if found is None:
            return [violation(where, text, value, "write {0} as a YAML list ([...])".format(where))]
        return found
    return Form(text, findings)


def mapping_of(key, value_form, key_text):
    text = "a mapping of {0} to {1}".format(key_text, value_form.text)

    def findings(value, where, variables):
        if not _is_mapping(value):
            return [violation(where, text, value, "write {0} as a YAML mapping ({{...}})".format(where))]
        found = []
        for name in value.keys():
            if not isinstance(name, str) or not key(name):
                found.append(finding(where, "{0} has the key {1}: each key must be {2}".format(where, shown(name), key_text),
                                     "rename or remove that key of {0}".format(where)))
                continue
            found += value_form.findings(value[name], "{0}.{1}".format(where, name), variables)
        return found
    return Form(text, findings)


def record(fields, required=(), text=None):
    """A mapping with the given fields ({name: form}), the required ones present, no other key."""
    text = text or "a mapping with {0}".format(", ".join(
        name if name in required else name + " (optional)" for name in fields))

    def findings(value, where, variables):
        if not _is_mapping(value):
            return [violation(where, text, value, "write {0} as a YAML mapping ({{...}})".format(where))]
        found = []
        unknown = sorted(shown(name) for name in value.keys() if name not in fields)
        if unknown:
            found.append(finding(where, "{0} has unknown key(s) {1}: use {2}".format(where, ", ".join(unknown), ", ".join(fields)),
                                 "remove or rename the unknown key(s) of {0}".format(where)))
        for name, form in fields.items():
            if name not in value:
                if name in required:
                    found.append(finding(where, "{0}.{1} is required".format(where, name), "add {0} to {1}".format(name, where)))
                continue
            found += form.findings(value[name], "{0}.{1}".format(where, name), variables)
        return found
    return Form(text, findings)


def any_of(text, forms):
    """Accepted by the first form whose type it has (chosen by accepts(value)); else refused with text."""
    def findings(value, where, variables):
        for accepts, form in forms:
            if accepts(value):
                return form.findings(value, where, variables)
        return [violation(where, text, value, "set {0} to {1}".format(where, text))]
    return Form(text, findings)


def json_value(value, depth=0):
    """Why a value cannot be written as JSON (daemon.json); None when it can."""
    if depth > MAX_DEPTH:
        return "nested too deep"
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2 ** 63):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN or an infinity"
    if isinstance(value, str):
        return text_problem(value, MAX_LINE)
    if _is_list(value):
        return next((reason for reason in (json_value(item, depth + 1) for item in value) if reason), None)
    if _is_mapping(value):
        for key, item in value.items():
            if not isinstance(key, str) or text_problem(key) or not key:
                return "the key {0}".format(shown(key))
            reason = json_value(item, depth + 1)
            if reason:
                return reason
        return None
    return "a {0}".format(type(value).__name__)


def json_mapping(example):
    text = "a mapping of daemon.json keys to JSON values (no NaN, no control characters)"

    def problem(value):
        if not _is_mapping(value):
            return ""
        return json_value(value)
    return simple(text, example, problem)


# ------------------------------------------------------------------------------ forms with context

def with_context(form, extra):
    """The form, then extra(value, where, variables) -> findings once the value has the form."""
    def findings(value, where, variables):
        found = form.findings(value, where, variables)
        return found or extra(value, where, variables or {})
    return Form(form.text, findings)


def _variable(variables, name):
    return variables.get(name, RULES[name].default)


def _billing_scheme(value, where, variables):
    if value == "" or as_bool(_variable(variables, "speech_allow_http_billing")) or urlsplit(value).scheme.lower() == "https":
        return []
    return [finding(where, "{0} must use https, got {1}: http only with speech_allow_http_billing: true (sandbox and "
                           "emulator fleets)".format(where, shown(value)),
                    "set {0} to your Speech resource's endpoint, e.g. {1}".format(where, ENDPOINT_EXAMPLE))]


def _port_range(value, where, variables):
    base, top = as_int(_variable(variables, "speech_port_base")), as_int(_variable(variables, "speech_port_max"))
    if where != "speech_port_max" or base is None or top is None or top >= base:
        return []
    return [finding(where, "speech_port_max ({0}) must be >= speech_port_base ({1})".format(top, base),
                    "raise speech_port_max or lower speech_port_base")]


def _display_types(value, where, variables):
    if "FullDisplay" in value and len(value) > 1:
        return [finding(where, "{0} lists FullDisplay with other types: FullDisplay (all four) stands alone".format(where),
                        "set {0} to [FullDisplay] or to the types you want, without FullDisplay".format(where))]
    return []


# ------------------------------------------------------------------------------------ the services

def _kind_form():
    return simple("one of " + ", ".join(catalog.KINDS), catalog.SPEECH_TO_TEXT, lambda value: None if value in catalog.KINDS else "")


def _setting_value_problem(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) < 10 ** 18 else "too large"
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN or an infinity"
    if isinstance(value, str):
        reason = text_problem(value)
        return None if reason is None else reason
    return ""


def _settings_form():
    value_text = "a string, number or boolean of one line (an env file line): no control character, no leading or " \
                 "trailing whitespace"

    def findings(value, where, variables):
        if not _is_mapping(value):
            return [finding(where, "{0} must be a mapping of setting name to value, got {1}".format(where, shown(value)),
                            "write {0} as {{SettingName: value}}".format(where))]
        found = []
        for key in value.keys():
            if not isinstance(key, str) or not SETTINGS_KEY_RE.fullmatch(key):
                found.append(finding(where, "{0} has an invalid setting name {1}".format(where, shown(key)),
                                     "name settings as the container does, letters, digits, '_', ':', '.', '-'"))
                continue
            reason = _setting_value_problem(value[key])
            if reason is not None:
                found.append(violation("{0}.{1}".format(where, key), "one line: " + value_text, value[key],
                                       "write {0}.{1} as one line of text".format(where, key), reason=reason))
        return found
    return Form("a mapping of setting name to " + value_text, findings)


def _optional_word(example):
    return line("a non-empty string without whitespace", example, pattern=re.compile(r"^\S+$"), max_length=256)


def _service_fields():
    return collections.OrderedDict((
        ("name", simple("1-40 lowercase letters, digits and inner dashes (e.g. stt-en-us)", "a name such as stt-en-us",
                        lambda value: None if isinstance(value, str) and SERVICE_NAME_RE.fullmatch(value) else "")),
        ("kind", _kind_form()),
        ("replicas", integer(0, MAX_REPLICAS, example="the number of containers to run, e.g. 2")),
        ("version", _optional_word("a version such as 5.1.0")),
        ("locale", line("a locale such as en-US", "a locale such as en-US", pattern=LOCALE_RE)),
        ("voice", _optional_word("a voice such as en-US-AriaNeural")),
        ("preview", boolean()),
        ("model_id", line("the custom model's ID, a GUID (from Speech Studio)", "a GUID such as "
                          "00000000-0000-0000-0000-000000000000", pattern=GUID_RE)),
        ("digest", line("sha256:<64 hex digits>", "sha256:<64 hex digits> (docker buildx imagetools inspect)", pattern=DIGEST_RE)),
        ("profile", one_of(catalog.SIZING_PROFILES)),
        ("cpus", number(0, MAX_CPUS, minimum_exclusive=True, unit=" (cores)", example="the cores, e.g. 8")),
        ("memory_mb", integer(1, MAX_MEMORY_MB, example="the memory in MB, e.g. 8192")),
        ("model_memory_mb", integer(0, MAX_MEMORY_MB, example="the model memory in MB, e.g. 8192")),
        ("settings", _settings_form()),
        ("extra_settings", _settings_form()),
        ("lb_port", _lb_port_form()),
        ("decoder_max_count", integer(1, MAX_REPLICAS, example="the decoders of one container, e.g. 2")),
        ("concurrency", integer(1, MAX_REPLICAS, example="the concurrent requests of one container, e.g. 2")),
    ))


def _lb_port_form():
    def findings(value, where, variables):
        port = as_int(value)
        if port is not None and 1 <= port <= 65535:
            return []
        if port is not None:
            message = "{0} {1} is not a port: pick one in 1..65535".format(where, port)
        else:
            message = "{0} must be a port, an integer in 1..65535, got {1}".format(where, shown(value))
        return [finding(where, message, "set {0} to a free port in 1..65535, e.g. 8000".format(where))]
    return Form("a port, an integer in 1..65535", findings)


def _services_findings(value, where, variables):
    if value is None:
        return []
    if not _is_list(value):
        return [finding(where, "{0} must be a list of services, got {1}".format(where, shown(value)),
                        "write {0} as a YAML list of {{name, kind, replicas, ...}}".format(where))]
    fields = _service_fields()
    found = []
    for position, service in enumerate(value):
        item = "{0}[{1}]".format(where, position)
        if not _is_mapping(service):
            found.append(finding(item, "{0} must be a mapping with name, kind and replicas, got {1}".format(item, shown(service)),
                                 "write {0} as {{name: ..., kind: ..., replicas: ...}}".format(item)))
            continue
        unknown = sorted(str(key) if isinstance(key, str) else shown(key) for key in service.keys() if key not in SERVICE_KEYS)
        if unknown:
            found.append(finding(item, "{0} has unknown key(s) {1}: use {2}".format(item, ", ".join(unknown), ", ".join(SERVICE_KEYS)),
                                 "remove or rename the unknown key(s) of {0}".format(item)))
        for field in ("name", "kind", "replicas"):
            if field not in service:
                found.append(finding(item, "{0}.{1} is required{2}".format(
                    item, field, ": how many containers to run (an integer >= 0)" if field == "replicas" else ""),
                    "add {0} to {1}".format(field, item)))
        for field, form in fields.items():
            if service.get(field) is not None or (field in ("name", "kind", "replicas") and field in service):
                found += form.findings(service[field], "{0}.{1}".format(item, field), variables)
    return found


SERVICES_TEXT = ("a list of services, each {{name, kind, replicas}} and optionally version, locale, voice, preview, "
                 "model_id (a GUID), digest, profile, cpus (finite, > 0), memory_mb, model_memory_mb, settings and "
                 "extra_settings (one-line values), lb_port, decoder_max_count, concurrency; replicas an integer 0..{0}, "
                 "never a boolean").format(MAX_REPLICAS)


def _pin_findings(value, where, variables):
    if not _is_list(value):
        return [violation(where, "a list of {service, port (optional)} or service names", value,
                          "write {0} as [{{service: <name>, port: <port>}}]".format(where))]
    found = []
    pin = record(collections.OrderedDict((("service", SERVICE_NAME), ("port", PORT))), required=("service",))
    for index, item in enumerate(value):
        item_where = "{0}[{1}]".format(where, index)
        found += SERVICE_NAME.findings(item, item_where, variables) if isinstance(item, str) else pin.findings(item, item_where, variables)
    return found


def _serial_item(value):
    count = as_int(value)
    if count is not None:
        return count >= 1
    match = PERCENT_RE.fullmatch(value) if isinstance(value, str) else None
    return bool(match) and 1 <= int(match.group(1)) <= 100


def _serial_problem(value):
    if _is_list(value):
        return None if value and all(_serial_item(item) for item in value) else ""
    return None if _serial_item(value) else ""


# ------------------------------------------------------------------------------------- the secrets

def secret_token(example, allow_empty=True, pattern=None, text="a string without whitespace or control characters"):
    def problem(value):
        if not isinstance(value, str):
            return ""
        if value == "" or value.startswith(ANSIBLE_OMIT_PREFIX):
            return None if allow_empty else ""
        if len(value) > MAX_LINE or any(char.isspace() or unicodedata.category(char) in CONTROL_CATEGORIES for char in value):
            return "whitespace or a control character, often a newline from a file lookup"
        return None if pattern is None or pattern.fullmatch(value) else ""
    return simple(("empty, or " if allow_empty else "") + text + " (never shown)", example, problem, secret=True)


def pem(kind, example, secret=False):
    marker = PEM_BEGIN + ("CERTIFICATE-----" if kind == "certificate" else "")

    def problem(value):
        if value == "":
            return None
        reason = text_problem(value, MAX_TEXT, multiline=True)
        if reason is not None:
            return "" if reason == "not a string" else reason
        if marker not in value or (kind == "private key" and "PRIVATE KEY-----" not in value):
            return "no {0}".format(marker.strip() if kind == "certificate" else "PRIVATE KEY block")
        return None
    return simple("empty, or PEM text ({0})".format(kind) + (" (never shown)" if secret else ""), example, problem, secret=secret)


# ----------------------------------------------------------------------------------------- shared

def _ip_check(value):
    return is_ip(value)


def _no_proxy_entry(value):
    if value == "*":
        return True
    host = value[1:] if value.startswith(".") else value
    return _is_cidr(host) or _host_and_port(host) is not None


def _docker_no_proxy(value):
    return value == "" or all(entry and _no_proxy_entry(entry) for entry in value.split(","))


def _registry_host_port(owner):
    def findings(value, where, variables):
        if isinstance(value, str) and not text_problem(value) and _host_and_port(value) is not None and ":" not in value.split(":")[0]:
            return []
        return [finding(where, "{0}: registry {1} must be host[:port], exactly as in image references, without a scheme or "
                               "path ({2})".format(owner, shown(value), where),
                        "set {0} to the registry's host[:port], e.g. registry.example.com:5000".format(where))]
    return Form("host[:port], exactly as in image references", findings)


def _real_date(value):
    try:
        datetime.date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        return False
    return True


def _license_date():
    def problem(value):
        if value == "":
            return None
        if isinstance(value, datetime.date):
            return ""
        if not isinstance(value, str) or text_problem(value) or not DATE_RE.fullmatch(value) or not _real_date(value):
            return ""
        return None
    return simple("empty, or a date YYYY-MM-DD", "a date",
                  problem, fix="write the date the licences expire as YYYY-MM-DD (the end of the Speech resource's "
                               "commitment), quoted, e.g. \"2027-01-31\"")


def _eula_findings(value, where, variables):
    if value == "" or (isinstance(value, str) and value.lower() == "accept"):
        return []
    if isinstance(value, str) and len(value) <= 12:
        state = repr(str(value))
    elif isinstance(value, str):
        state = "a {0}-character string".format(len(value))  # not echoed: another variable's secret pasted here?
    else:
        state = shown(value)
    return [finding(where, "{0} is {1}: the containers start only with Eula=accept".format(where, state),
                    "read Microsoft's license terms and set speech_eula: accept (the string, quoted if in doubt)")]


def _key_in_use_findings(value, where, variables):
    if value in ("primary", "secondary"):
        return []
    rendered = '"{0}"'.format(value) if isinstance(value, str) and not text_problem(value, 40) else shown(value)
    return [finding(where, "{0} is {1}: set it to primary (speech_api_key) or secondary (speech_api_key_secondary)"
                           .format(where, rendered),
                    "set speech_api_key_in_use to primary or secondary (speech_api_key_secondary, the resource's second "
                    "key, from the vault)")]


def _month_findings(value, where, variables):
    if value == "" or (isinstance(value, str) and MONTH_RE.fullmatch(value)):
        return []
    return [finding(where, "{0} must be empty or a month MM/YYYY, got {1}".format(where, shown(value)),
                    "write the month as MM/YYYY, e.g. 01/2026, or leave it empty for every month")]


def _port_form(example):
    def findings(value, where, variables):
        port = as_int(value)
        if port is not None and 1 <= port <= 65535:
            return []
        return [finding(where, "{0} must be a port: speech_port_base..speech_port_max must lie within 1..65535, got {1}".format(
            where, shown(value)), "set {0} to a port in 1..65535, e.g. {1}".format(where, example))]
    return Form("a port, an integer in 1..65535", findings)


SERVICE_NAME = simple("a service name of speech_services (1-40 lowercase letters, digits and inner dashes)", "a service name",
                      lambda value: None if isinstance(value, str) and SERVICE_NAME_RE.fullmatch(value) else "")
PORT = integer(1, 65535, example="a port in 1..65535")
HOST = line("an IP address or a DNS name", "an address such as 192.0.2.10 or a name such as speech.example.com", check=is_host)
IP_ADDRESS = line("an IP address (IPv4 or IPv6)", "an address such as 0.0.0.0 or 192.0.2.10", check=_ip_check)
INVENTORY_NAME = line("an inventory host name", "a host of the inventory", pattern=NAME_RE)
IMAGE = line("an image reference registry/repository[:tag][@sha256:digest] (lowercase repository)",
             "an image reference such as mcr.microsoft.com/azure-cognitive-services/diagnostic:latest", pattern=IMAGE_RE)
LOCALE = line("a locale such as en-US", "a locale such as en-US", pattern=LOCALE_RE)
HAPROXY_TIME = any_of("an HAProxy time: digits with an optional unit us, ms, s, m, h or d (e.g. 30s), or an integer of ms", (
    (lambda value: isinstance(value, int) and not isinstance(value, bool), integer(0, 10 ** 9, unit=" (ms)")),
    (lambda value: isinstance(value, str), line("an HAProxy time: digits with an optional unit us, ms, s, m, h or d",
                                                "a time such as 30s or 1h", pattern=HAPROXY_TIME_RE)),
))
BALANCE = line("an HAProxy balance algorithm (roundrobin, static-rr, leastconn, first, source, random, uri, url_param, hdr, "
               "rdp-cookie, hash)", "leastconn or roundrobin", pattern=BALANCE_RE)
CONTROLLER_FILE = line("a file on the controller (one line)", "a path such as /srv/images/speech-to-text.tar")
SECONDS = integer(0, MAX_SECONDS, unit=" (seconds)", example="a number of seconds, e.g. 600")
SECONDS_POSITIVE = integer(1, MAX_SECONDS, unit=" (seconds)", example="a number of seconds, e.g. 60")


# ------------------------------------------------------------------------- the load balancers' clients

def _is_network(value):
    """address/prefix of a network, its host bits zero (10.20.0.0/16, not 10.20.0.1/16)."""
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


CLIENT_KEY_TEXT = ("16 to 1024 characters of A-Z, a-z, 0-9 and - . _ ~ + / (then = padding only), e.g. from "
                   "openssl rand -hex 32")
CLIENT_KEYS_TEXT = ("a list of {name, key, services (optional: the service names it opens; all when absent)}, each "
                    "name 1-64 letters, digits and _ . @ - and unique, each key " + CLIENT_KEY_TEXT + " and unique")


def _client_key_record():
    return record(collections.OrderedDict((
        ("name", line("a client name: 1-64 letters, digits and _ . @ - (it names the client in HAProxy's log)",
                      "a name such as billing-app", pattern=CLIENT_NAME_RE)),
        ("key", secret_token("a new random key, from the vault (openssl rand -hex 32)", allow_empty=False,
                             pattern=CLIENT_KEY_RE, text=CLIENT_KEY_TEXT)),
        ("services", list_of(SERVICE_NAME, minimum_items=1, unique=True)),
    )), required=("name", "key"))


def _client_keys_findings(value, where, variables):
    """The list and each client; then names and keys that are listed twice (a key only by position, never shown)."""
    fix = "write {0} as a YAML list of {{name: <client>, key: <from the vault>}}".format(where)
    if not _is_list(value):
        return [violation(where, CLIENT_KEYS_TEXT, value, fix, secret=True)]
    found = []
    client = _client_key_record()
    for index, item in enumerate(value):
        item_where = "{0}[{1}]".format(where, index)
        if not _is_mapping(item):  # a bare key, say: never shown
            found.append(violation(item_where, "a mapping {name, key, services (optional)}", item, fix, secret=True))
            continue
        found += client.findings(item, item_where, variables)
    if found:
        return found
    first_of_name, first_of_key = {}, {}
    for index, item in enumerate(value):
        item_where = "{0}[{1}]".format(where, index)
        if item["name"] in first_of_name:
            found.append(finding(where, "{0}.name {1} is also the name of {2}[{3}]: each client needs a name of its own"
                                 .format(item_where, shown(item["name"]), where, first_of_name[item["name"]]),
                                 "rename one of them (a rotation adds the new key under a new name, e.g. {0}-2)"
                                 .format(item["name"])))
        if item["key"] in first_of_key:
            found.append(finding(where, "{0}.key is the key of {1}[{2}] as well: each client needs a key of its own"
                                 .format(item_where, where, first_of_key[item["key"]]),
                                 "give {0} a new random key (openssl rand -hex 32), from the vault".format(item_where)))
        first_of_name.setdefault(item["name"], index)
        first_of_key.setdefault(item["key"], index)
    return found


def _client_ca_form():
    text = "empty, or PEM text of the CA certificate(s) that sign the clients' certificates"

    def problem(value):
        if value == "":
            return None
        reason = text_problem(value, MAX_TEXT, multiline=True)
        if reason is not None:
            return "" if reason == "not a string" else reason
        if PEM_BEGIN + "CERTIFICATE-----" not in value:
            return "no -----BEGIN CERTIFICATE----- block"
        if "PRIVATE KEY-----" in value:
            return "it holds a private key, which must never leave the CA"
        return None
    return simple(text, "the CA certificate, PEM text", problem)


LB_AUTH = one_of(LB_AUTH_MODES, example="keys (client keys), mtls (client certificates) or none (no authentication)")
NETWORK = line("a network in CIDR form, address/prefix with no host bits (10.20.0.0/16, 192.0.2.7/32, 2001:db8::/32)",
               "a network such as 10.20.0.0/16, or 192.0.2.7/32 for one address", check=_is_network)


def _rules():
    no_proxy_entry = line("a host, .domain, IP address or CIDR, with an optional :port", "an entry such as .example.internal",
                          check=_no_proxy_entry)
    login = record(collections.OrderedDict((
        ("registry", _registry_host_port("docker_registry_logins")),
        ("username", line("a user name without whitespace", "the registry user", pattern=re.compile(r"^\S+$"))),
        ("password", secret_token("the password, from the vault", allow_empty=False, text="a password without whitespace")),
    )), required=("registry", "username", "password"))
    registry_ca = record(collections.OrderedDict((
        ("registry", _registry_host_port("docker_registry_cas")),
        ("ca", pem("certificate", "the CA certificate, PEM text")),
    )), required=("registry", "ca"))
    server = record(collections.OrderedDict((
        ("backend", line("a backend (service) name", "a service", pattern=NAME_RE)),
        ("server", line("a server (container) name", "a container", pattern=NAME_RE)),
        ("ready_url", url(("http", "https"), "http://<address>:<port>/ready", allow_empty=False, allow_path=True)),
    )), required=("backend", "server", "ready_url"))
    plan = simple("the plan ({hosts: {...}, services: {...}}), set by playbooks/tasks/plan.yml", "the plan",
                  lambda value: None if _is_mapping(value) and _is_mapping(value.get("hosts")) and _is_mapping(value.get("services")) else "",
                  fix="leave speech_plan to playbooks/tasks/plan.yml; do not set it")
    bool_rule = boolean()
    rules = [
        # --- the Speech resource and the key ---------------------------------------------------------
        ("speech_eula", "str", Form("\"\" (not yet accepted) or accept (any case)", _eula_findings), "",
         "env file Eula= of every container"),
        ("speech_billing_endpoint", "str", with_context(
            url(("https", "http"), ENDPOINT_EXAMPLE, allow_path=True, allow_userinfo=True,
                extra=" (no query or fragment); http only with speech_allow_http_billing"), _billing_scheme), "",
         "env file Billing= of every container; the diagnostics run"),
        ("speech_api_key", "str", secret_token("the Speech resource's key, from the vault"), None,
         "env file ApiKey= (0600) of every container; one-shot runs' temporary env files"),
        ("speech_api_key_secondary", "str", secret_token("the resource's second key, from the vault"), None,
         "env file ApiKey= when speech_api_key_in_use is secondary"),
        ("speech_api_key_in_use", "str", Form("one of primary, secondary", _key_in_use_findings), "primary",
         "which key goes into the env files; container label speechops.api_key"),
        ("speech_allow_http_billing", "bool", bool_rule, False, "preflight's billing endpoint check"),
        # --- what each container runs with -----------------------------------------------------------
        ("speech_config_dir", "path", absolute_path(example="/etc/speechops"), "/etc/speechops",
         "host folder of each container's env file and container.json"),
        ("speech_data_dir", "path", absolute_path(mounted=True, example="/var/lib/speechops"), "/var/lib/speechops",
         "host folders mounted into the containers (docker run -v)"),
        ("speech_bind_address", "str", IP_ADDRESS, "0.0.0.0", "docker run -p <address>:<port>:<port>"),
        ("speech_firewall", "bool", bool_rule, True, "the speech hosts' nftables table inet speechops_firewall"),
        ("speech_firewall_allow", "list", list_of(line(
            "an address or a network address/prefix with the host bits zero (IPv4 or IPv6)",
            "a network such as 198.51.100.0/24 or an address such as 192.0.2.10",
            check=lambda value: firewall.allow_problem(value) is None)), [], "the firewall's sources beside the load balancers"),
        ("speech_log_level", "str", one_of(("",) + LOG_LEVELS, ignore_case=True, example="Information"), "",
         "env file Logging:Console:LogLevel:Default"),
        ("speech_http_proxy", "str", url(("http", "https"), "http://proxy.example.com:3128", allow_userinfo=True,
                                         extra=" (or the credentials in speech_http_proxy_creds)"), "",
         "env file HTTP_PROXY of every container; the licence download"),
        ("speech_http_proxy_creds", "str", secret_token("user:password, from the vault", pattern=re.compile(r"^[^:]+:.+$"),
                                                        text="user:password without whitespace or control characters"), "",
         "env file HTTP_PROXY_CREDS"),
        ("speech_no_proxy", "list", list_of(no_proxy_entry), [], "env file NO_PROXY"),
        ("speech_application_insights_key", "str", secret_token("the instrumentation key, from the vault"), "",
         "env file ApplicationInsights:InstrumentationKey"),
        ("speech_sentiment_api_key", "str", secret_token("the sentiment key, from the vault"), "",
         "env file CloudAI:SentimentAnalysisSettings:SentimentAnalysisApiKey"),
        ("speech_output", "bool", bool_rule, False, "docker run -v <data>/output:/output"),
        ("speech_disk_logging", "bool", bool_rule, False, "env file Logging:Disk:Format"),
        ("speech_disconnected", "bool", bool_rule, False, "env file Mounts:License; no billing"),
        ("speech_license_dir", "str", absolute_path(mounted=True, example="/var/lib/speechops/licenses",
                                                    fix="set speech_license_dir to the host folder playbooks/license.yml "
                                                        "downloads the licences to, e.g. /var/lib/speechops/licenses"),
         "/var/lib/speechops/licenses", "docker run -v <folder>:/license"),
        ("speech_license_expires_on", "str", _license_date(), "", "preflight's licence expiry warning"),
        ("speech_license_renew_days", "int", integer(0, 3650, unit=" (days)", example="a number of days, e.g. 30"), 30,
         "preflight's licence expiry warning"),
        # --- images ------------------------------------------------------------------------------------
        ("speech_registry", "str", line("a lowercase registry host[:port][/path] without a scheme",
                                        "a registry such as mcr.microsoft.com or registry.example.com:5000/mirror",
                                        pattern=REGISTRY_RE), "mcr.microsoft.com", "every image reference: docker pull"),
        ("speech_allow_retired_kinds", "bool", bool_rule, False, "the plan"),
        ("speech_image_pull", "str", one_of(("missing", "always")), "missing", "docker pull policy"),
        ("speech_image_archives", "dict", mapping_of(lambda key: bool(IMAGE_RE.fullmatch(key)), CONTROLLER_FILE,
                                                     "image references"), {}, "docker load of tarballs shipped to the hosts"),
        # --- health gates and drains -------------------------------------------------------------------
        ("speech_ready_timeout", "int", integer(0, 86400, unit=" (seconds; 0 takes the kind's)", example="seconds, e.g. 300"), 0,
         "the health gate's wait for /ready"),
        ("speech_smoke", "bool", bool_rule, True, "the health gate's smoke request"),
        ("speech_drain_timeout", "int", SECONDS, 600, "HAProxy drain before a container is replaced"),
        ("speech_model_memory", "str", one_of(("host", "container")), "host", "docker run --memory; the plan"),
        # --- host checks ----------------------------------------------------------------------------------
        ("speech_reserved_cpus", "float", number(0, MAX_CPUS, unit=" (cores)", example="cores, e.g. 2"), 0, "the plan; preflight"),
        ("speech_reserved_memory_mb", "int", integer(0, MAX_MEMORY_MB, unit=" (MB)", example="MB, e.g. 4096"), 0,
         "the plan; preflight"),
        ("speech_min_clock_mhz", "int", integer(0, 100000, unit=" (MHz)", example="MHz, e.g. 2600"), 2600, "preflight"),
        ("speech_clock_policy", "str", one_of(("fail", "warn")), "fail", "preflight"),
        ("speech_size_policy", "str", one_of(("fail", "warn")), "fail", "preflight"),
        ("speech_image_disk_mb", "dict", mapping_of(lambda key: key in catalog.KINDS, integer(0, MAX_MEMORY_MB, unit=" (MB)"),
                                                    "kinds (" + ", ".join(catalog.KINDS) + ")"), {}, "preflight's disk check"),
        ("speech_disk_headroom_mb", "int", integer(0, MAX_MEMORY_MB, unit=" (MB)", example="MB, e.g. 2048"), 2048,
         "preflight's disk check"),
        ("speech_base_model_locale", "str", LOCALE, "en-US", "docker run ... BaseModelLocale="),
        ("speech_plan", "dict", plan, {"hosts": {}, "services": {}}, "every role (set by playbooks/tasks/plan.yml)"),
        # --- the plan's inputs (playbooks/tasks/plan.yml) ----------------------------------------------
        ("speech_services", "list", Form(SERVICES_TEXT, _services_findings), [], "the plan; each container's env file and docker run"),
        ("speech_sizing_profile", "str", one_of(catalog.SIZING_PROFILES), "recommended", "the plan: --cpus and --memory"),
        ("speech_port_base", "int", _port_form(5100), 5100, "the plan: host ports"),
        ("speech_port_max", "int", with_context(_port_form(5999), _port_range), 5999, "the plan: host ports"),
        ("speech_lb_port_base", "int", integer(1, 65535, example="a port, e.g. 8000"), 8000, "the plan: HAProxy frontend ports"),
        ("speech_placement_strategy", "str", one_of(("spread", "binpack")), "spread", "the plan"),
        ("speech_rebalance", "bool", bool_rule, False, "the plan"),
        ("speech_max_moves", "int", integer(0, MAX_REPLICAS, example="a count, e.g. 10"), 0, "the plan"),
        ("speech_allow_unknown_tags", "bool", bool_rule, False, "the plan"),
        ("speech_fault_domain", "str", any_of("a zone or rack name (one line), or an integer", (
            (lambda value: isinstance(value, int) and not isinstance(value, bool), integer(0, 10 ** 9)),
            (lambda value: isinstance(value, str), line("a zone or rack name (one line)", "a name such as rack-a", max_length=253)),
        )), None, "the plan (per host)"),
        ("speech_pinned", "list", Form("a list of {service, port (optional)} or service names", _pin_findings), [],
         "the plan (per host)"),
        ("speech_address", "str", HOST, None, "the plan (per host): the backends' address in haproxy.cfg"),
        ("speech_show_plan", "bool", bool_rule, True, "playbooks/tasks/plan.yml"),
        ("speech_lb_address", "str", HOST, None, "the endpoints catalog"),
        ("speech_lb_ports", "dict", mapping_of(lambda key: bool(SERVICE_NAME_RE.fullmatch(key)), PORT, "service names"), None,
         "the endpoints catalog"),
        ("speech_artifacts_dir", "str", controller_path(), None, "files written on the controller"),
        # --- rollouts and removal ------------------------------------------------------------------------
        ("speech_rollout_serial", "raw", simple("a count >= 1, a percentage \"N%\" of 1-100, or a non-empty list of those",
                                                "[1, \"25%\"]", _serial_problem), [1, "25%"], "the rollout's serial"),
        ("speech_remove_services", "list", list_of(SERVICE_NAME), [], "playbooks/remove.yml"),
        ("speech_remove_hosts", "list", list_of(INVENTORY_NAME), [], "playbooks/remove.yml"),
        ("speech_remove_docker", "bool", bool_rule, False, "playbooks/remove.yml"),
        # --- preflight ------------------------------------------------------------------------------------
        ("preflight_docker_data_root", "str", absolute_path(allow_empty=True, example="/var/lib/docker"), "",
         "preflight's disk check"),
        ("preflight_show_summary", "bool", bool_rule, True, "preflight"),
        ("preflight_check_fleet_inputs", "bool", bool_rule, True, "preflight"),
        ("preflight_enforce", "bool", bool_rule, True, "preflight"),
        ("preflight_check_licenses", "bool", bool_rule, True, "preflight"),
        # --- speech_containers --------------------------------------------------------------------------
        ("speech_containers_restart_policy", "str", one_of(("no", "on-failure", "always", "unless-stopped")), "unless-stopped",
         "docker run --restart"),
        ("speech_containers_log_driver", "str", line("a Docker log driver name", "json-file", pattern=LOG_DRIVER_RE),
         "json-file", "docker run --log-driver"),
        ("speech_containers_log_options", "dict", mapping_of(lambda key: bool(OPTION_KEY_RE.fullmatch(key)), any_of(
            "a one-line string or an integer", (
                (lambda value: isinstance(value, int) and not isinstance(value, bool), integer(0, 10 ** 15)),
                (lambda value: isinstance(value, str), line("a one-line value", "50m")),
            )), "log option names"), {"max-size": "50m", "max-file": "3"}, "docker run --log-opt"),
        ("speech_containers_lb_hosts", "list", list_of(INVENTORY_NAME), None, "drains on the load balancers"),
        ("speech_containers_remove_unplanned", "bool", bool_rule, True, "docker rm of unplanned containers"),
        ("speech_containers_restart_services", "list", list_of(SERVICE_NAME), [], "the rollout"),
        ("speech_containers_removals", "list", list_of(line("a container name", "speech-lid-1", pattern=NAME_RE)), None,
         "docker rm"),
        # --- speech_jobs -----------------------------------------------------------------------------------
        ("speech_jobs_base_model_image", "str", line(IMAGE.text, "an image reference", pattern=IMAGE_RE, allow_empty=True), "",
         "docker run of the base model listing"),
        ("speech_jobs_diagnostics_image", "str", line(IMAGE.text, "an image reference", pattern=IMAGE_RE, allow_empty=True), "",
         "docker run of the diagnostics"),
        ("speech_jobs_usage_dir", "str", controller_path(allow_empty=True), "", "files written on the controller"),
        ("speech_jobs_usage_month", "str", Form("empty, or a month MM/YYYY", _month_findings), "", "GET /records/usage-logs/<month>"),
        ("speech_display_models_action", "str", one_of(("", "list", "download")), "", "playbooks/display_models.yml"),
        ("speech_display_models_locale", "str", LOCALE, "en-US", "docker run ... DisplayLocale="),
        ("speech_display_models_types", "list", with_context(list_of(one_of(DISPLAY_MODEL_TYPES), unique=True), _display_types),
         ["FullDisplay"], "docker run arguments"),
        ("speech_display_models_ids", "dict", mapping_of(lambda key: key in DISPLAY_MODEL_ID_SETTINGS, line(
            "a model ID, a GUID", "a GUID such as 00000000-0000-0000-0000-000000000000", pattern=GUID_RE),
            "the settings " + ", ".join(DISPLAY_MODEL_ID_SETTINGS)), {}, "docker run ... <setting>=<GUID>"),
        ("speech_display_models_service", "str", line("a service name of speech_services", "a custom speech-to-text service",
                                                      pattern=SERVICE_NAME_RE, allow_empty=True), "", "which containers get the models"),
        ("speech_display_models_image", "str", line(IMAGE.text, "an image reference", pattern=IMAGE_RE, allow_empty=True), "",
         "docker run of the display model listing"),
        ("speech_display_models_restart", "bool", bool_rule, True, "playbooks/display_models.yml"),
        # --- docker ------------------------------------------------------------------------------------------
        ("docker_install_source", "str", one_of(("distro", "docker_repo")), "distro", "package installation"),
        ("docker_repo_base_url", "str", url(("https", "http"), "https://download.docker.com/linux", allow_empty=False,
                                            allow_path=True, extra=" (no credentials, query or fragment)"),
         "https://download.docker.com/linux", "the apt or dnf repository file"),
        ("docker_repo_channel", "str", one_of(("stable", "test")), "stable", "the apt or dnf repository file"),
        ("docker_daemon_defaults", "dict", json_mapping("{log-driver: json-file}"),
         {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}, "live-restore": True,
          "userland-proxy": False}, "/etc/docker/daemon.json"),
        ("docker_daemon_options", "dict", json_mapping("{dns: [10.0.0.2]}"), {}, "/etc/docker/daemon.json"),
        ("docker_http_proxy", "str", url(("http", "https"), "http://proxy.example.com:3128", allow_userinfo=True), "",
         "the engine's systemd drop-in HTTP_PROXY"),
        ("docker_https_proxy", "str", url(("http", "https"), "http://proxy.example.com:3128", allow_userinfo=True), "",
         "the engine's systemd drop-in HTTPS_PROXY"),
        ("docker_no_proxy", "str", line("comma-separated hosts, .domains, IP addresses or CIDRs (no spaces)",
                                        "localhost,127.0.0.1,.example.internal", check=_docker_no_proxy, allow_empty=True),
         "localhost,127.0.0.1", "the engine's systemd drop-in NO_PROXY"),
        ("docker_registry_cas", "list", list_of(registry_ca), [], "/etc/docker/certs.d/<registry>/ca.crt"),
        ("docker_service_enabled", "bool", bool_rule, True, "systemd"),
        ("docker_service_state", "str", one_of(("started", "stopped")), "started", "systemd"),
        ("docker_pull_images", "list", list_of(IMAGE), [], "docker pull"),
        ("docker_pull_policy", "str", one_of(("missing", "always")), "missing", "docker pull"),
        ("docker_image_archives", "dict", mapping_of(lambda key: bool(IMAGE_RE.fullmatch(key)), CONTROLLER_FILE, "image references"),
         {}, "docker load"),
        ("docker_archive_dir", "path", absolute_path(example="/var/lib/speechops/images"), "/var/lib/speechops/images",
         "host folder of the shipped tarballs"),
        ("docker_known_images", "list", list_of(IMAGE), [], "docker pull (skipped)"),
        ("docker_registry_logins", "list", list_of(login), [], "docker login while pulling"),
        # --- gstreamer -----------------------------------------------------------------------------------------
        ("gstreamer_install_extras", "bool", bool_rule, True, "package installation"),
        ("gstreamer_verify", "bool", bool_rule, True, "gst-launch-1.0 on the host"),
        # --- loadbalancer ----------------------------------------------------------------------------------------
        ("loadbalancer_services", "dict", mapping_of(lambda key: bool(NAME_RE.fullmatch(key)), simple(
            "a mapping", "the plan's service", lambda value: None if _is_mapping(value) else ""), "service names"), {},
         "haproxy.cfg (from speech_plan.services)"),
        ("loadbalancer_packages", "list", list_of(line("a package name", "haproxy", pattern=PACKAGE_RE)), ["haproxy"],
         "package installation"),
        ("loadbalancer_service_name", "str", line("a systemd unit name", "haproxy", pattern=NAME_RE), "haproxy", "systemd"),
        ("loadbalancer_config_file", "path", absolute_path(example="/etc/haproxy/haproxy.cfg"), "/etc/haproxy/haproxy.cfg",
         "haproxy.cfg"),
        ("loadbalancer_bind_address", "str", IP_ADDRESS, "0.0.0.0", "haproxy.cfg bind"),
        ("loadbalancer_maxconn", "int", integer(1, 10000000, example="connections, e.g. 4096"), 4096, "haproxy.cfg maxconn"),
        ("loadbalancer_stats_socket", "path", absolute_path(example="/run/haproxy/admin.sock"), "/run/haproxy/admin.sock",
         "haproxy.cfg stats socket"),
        ("loadbalancer_server_state_file", "path", absolute_path(example="/var/lib/haproxy/server-state"),
         "/var/lib/haproxy/server-state", "haproxy.cfg server-state-file"),
        ("loadbalancer_hard_stop_after", "str", HAPROXY_TIME, "30m", "haproxy.cfg hard-stop-after"),
        ("loadbalancer_log_targets", "list", list_of(line("a log target line", "/dev/log local0")), [], "haproxy.cfg log"),
        ("loadbalancer_chroot", "path", absolute_path(allow_empty=True, example="/var/lib/haproxy"), "/var/lib/haproxy",
         "haproxy.cfg chroot"),
        ("loadbalancer_timeout_connect", "str", HAPROXY_TIME, "5s", "haproxy.cfg timeout connect"),
        ("loadbalancer_timeout_client", "str", HAPROXY_TIME, "60s", "haproxy.cfg timeout client"),
        ("loadbalancer_timeout_server", "str", HAPROXY_TIME, "60s", "haproxy.cfg timeout server"),
        ("loadbalancer_timeout_tunnel", "str", HAPROXY_TIME, "1h", "haproxy.cfg timeout tunnel"),
        ("loadbalancer_timeout_client_fin", "str", HAPROXY_TIME, "30s", "haproxy.cfg timeout client-fin"),
        ("loadbalancer_timeout_http_request", "str", HAPROXY_TIME, "10s", "haproxy.cfg timeout http-request"),
        ("loadbalancer_retries", "int", integer(0, 100, example="a count, e.g. 3"), 3, "haproxy.cfg retries"),
        ("loadbalancer_balance_ws", "str", BALANCE, "leastconn", "haproxy.cfg balance"),
        ("loadbalancer_balance_http", "str", BALANCE, "roundrobin", "haproxy.cfg balance"),
        ("loadbalancer_balance_by_kind", "dict", mapping_of(lambda key: key in catalog.KINDS, BALANCE,
                                                            "kinds (" + ", ".join(catalog.KINDS) + ")"),
         {"language-detection": "leastconn"}, "haproxy.cfg balance"),
        ("loadbalancer_balance_by_service", "dict", mapping_of(lambda key: bool(SERVICE_NAME_RE.fullmatch(key)), BALANCE,
                                                               "service names"), {}, "haproxy.cfg balance"),
        ("loadbalancer_health_check_path", "str", line("an absolute URL path without whitespace", "/ready",
                                                       pattern=re.compile(r"^/\S*$")), "/ready", "haproxy.cfg option httpchk"),
        ("loadbalancer_check_inter", "str", HAPROXY_TIME, "2s", "haproxy.cfg server inter"),
        ("loadbalancer_timeout_check", "str", HAPROXY_TIME, "5s", "haproxy.cfg timeout check"),
        ("loadbalancer_check_fall", "int", integer(1, 100, example="a count, e.g. 3"), 3, "haproxy.cfg server fall"),
        ("loadbalancer_check_rise", "int", integer(1, 100, example="a count, e.g. 2"), 2, "haproxy.cfg server rise"),
        ("loadbalancer_timeout_queue", "str", HAPROXY_TIME, "30s", "haproxy.cfg timeout queue"),
        ("loadbalancer_queue_factor", "int", integer(1, 1000, example="a multiple, e.g. 2"), 2, "haproxy.cfg maxqueue"),
        ("loadbalancer_slowstart", "str", HAPROXY_TIME, "30s", "haproxy.cfg server slowstart"),
        ("loadbalancer_stats_port", "int", integer(0, 65535, unit=" (0: off)", example="a port, e.g. 8404, or 0"), 8404,
         "haproxy.cfg stats listener"),
        ("loadbalancer_tls", "str", one_of(("none", "selfsigned", "provided")), "none", "haproxy.cfg bind ssl"),
        ("loadbalancer_tls_dir", "path", absolute_path(example="/etc/haproxy/certs"), "/etc/haproxy/certs", "the PEM's folder"),
        ("loadbalancer_tls_certificate", "str", pem("certificate", "the certificate then its chain, PEM text"), "",
         "the PEM file HAProxy serves"),
        ("loadbalancer_tls_private_key", "str", pem("private key", "the key, PEM text, from the vault", secret=True), "",
         "the PEM file HAProxy serves"),
        ("loadbalancer_tls_common_name", "str", line("a common name (1-64 characters, one line)", "lb.example.com",
                                                     max_length=64), None, "the self-signed certificate"),
        ("loadbalancer_tls_subject_alt_names", "list", list_of(line("DNS:<name>, IP:<address>, email:, URI:, RID:, dirName: "
                                                                    "or otherName:", "DNS:lb.example.com",
                                                                    pattern=SUBJECT_ALT_NAME_RE)), None,
         "the self-signed certificate"),
        ("loadbalancer_tls_selfsigned_not_after", "str", line("a relative time (+825d, +32w1d2h) or an ASN.1 time "
                                                              "(YYYYMMDDHHMMSSZ)", "+825d",
                                                              check=lambda value: bool(CERT_ABSOLUTE_TIME_RE.fullmatch(value) or (
                                                                  len(value) > 1 and CERT_RELATIVE_TIME_RE.fullmatch(value)))),
         "+825d", "the self-signed certificate"),
        ("loadbalancer_python", "path", absolute_path(example="/usr/bin/python3"), "/usr/bin/python3", "the state helper's interpreter"),
        ("loadbalancer_state_script", "path", absolute_path(example="/usr/local/lib/speechops/haproxy_state.py"),
         "/usr/local/lib/speechops/haproxy_state.py", "the systemd drop-in"),
        ("loadbalancer_wait_for_checks", "bool", bool_rule, True, "the wait after a reload"),
        ("loadbalancer_wait_timeout", "int", SECONDS_POSITIVE, 60, "the wait after a reload"),
        ("loadbalancer_hosts", "list", list_of(INVENTORY_NAME), None, "the load balancers drained"),
        ("loadbalancer_servers", "list", list_of(server), None, "haproxy_servers (from the plan)"),
        ("loadbalancer_server_state", "str", one_of(("drained", "ready", "maint", "reconcile")), "reconcile", "haproxy_servers"),
        ("loadbalancer_drain_timeout", "int", SECONDS, 600, "haproxy_servers"),
        ("loadbalancer_up_timeout", "int", SECONDS, 60, "haproxy_servers"),
        ("loadbalancer_missing_servers", "str", one_of(("fail", "ignore")), "fail", "haproxy_servers"),
        ("loadbalancer_unavailable", "str", one_of(("fail", "skip")), None, "haproxy_servers (skip behind a VIP)"),
        ("loadbalancer_mark_reconciled", "bool", bool_rule, False, "the load balancers' mark that lets them hold the VIP"),
        ("loadbalancer_maintenance_host", "str", line("an inventory host of speech_lb", "lb2", pattern=NAME_RE,
                                                      allow_empty=True), None, "the graceful maintenance"),
        ("loadbalancer_maintenance_timeout", "int", SECONDS_POSITIVE, 300, "the graceful maintenance's stop of HAProxy"),
        # --- the load balancers' virtual IP (keepalived) -------------------------------------------------
        ("speech_lb_vip", "str", line("one IPv4 address (no prefix)", "a free address such as 192.0.2.100",
                                      allow_empty=True, check=_is_ipv4), "", "keepalived; the endpoints catalog"),
        ("speech_lb_vip_interface", "str", line("an interface name (empty: the default route's)", "eth0",
                                                pattern=INTERFACE_RE, allow_empty=True), "", "keepalived"),
        ("speech_lb_vip_router_id", "int", integer(1, 255, example="a VRRP router id, e.g. 51"), 51, "keepalived"),
        ("speech_lb_vrrp_password", "str", secret_token("1 to 8 characters, from the vault", pattern=VRRP_PASSWORD_RE,
                                                        text="1 to 8 characters without whitespace (VRRP version 2)"),
         None, "keepalived"),
        ("speech_lb_vrrp_unicast", "bool", bool_rule, True, "keepalived: unicast peers, else multicast"),
        ("speech_lb_maintenance", "str", line("an inventory host of speech_lb", "lb2", pattern=NAME_RE), None,
         "playbooks/loadbalancer.yml"),
        # --- the load balancers' clients: authentication and source networks ---------------------------
        ("speech_lb_auth", "str", LB_AUTH, "keys", "haproxy.cfg: each service frontend's client authentication"),
        ("speech_lb_auth_by_service", "dict", mapping_of(lambda key: bool(SERVICE_NAME_RE.fullmatch(key)), LB_AUTH,
                                                         "service names"), {},
         "haproxy.cfg: a service frontend's client authentication, over speech_lb_auth"),
        ("speech_lb_client_keys", "list", Form(CLIENT_KEYS_TEXT, _client_keys_findings), [],
         "the SHA-256 of each key in /etc/haproxy/speechops/client-keys-<service>.map and HAProxy's runtime maps"),
        ("speech_lb_client_ca", "str", _client_ca_form(), "", "<loadbalancer_tls_dir>/client-ca.pem: bind ca-file"),
        ("speech_lb_allow_from", "list", list_of(NETWORK, unique=True), [],
         "haproxy.cfg: tcp-request connection reject unless the source is in one of them"),
        ("speech_lb_allow_from_by_service", "dict", mapping_of(lambda key: bool(SERVICE_NAME_RE.fullmatch(key)),
                                                               list_of(NETWORK, unique=True), "service names"), {},
         "haproxy.cfg: a service frontend's source networks, over speech_lb_allow_from"),
    ]
    return collections.OrderedDict((name, Rule(kind, form, default, used)) for name, kind, form, default, used in rules)


RULES = _rules()
SECRET_VARIABLES = ("speech_api_key", "speech_api_key_secondary", "speech_http_proxy_creds",
                    "speech_application_insights_key", "speech_sentiment_api_key", "loadbalancer_tls_private_key",
                    "speech_lb_vrrp_password", "speech_lb_client_keys")
URL_VARIABLES = ("speech_billing_endpoint", "speech_http_proxy", "docker_http_proxy", "docker_https_proxy", "docker_repo_base_url")


# ------------------------------------------------------------------------------------------- checks

def check(variables):
    """Every violation of the variables given ({name: value}); a variable not given has its default, never checked."""
    if not _is_mapping(variables):
        raise ValueError("the contract checks a mapping of variable names to values, got {0}".format(type(variables).__name__))
    found = []
    for name, rule in RULES.items():
        if name in variables:
            found += rule.form.findings(variables[name], name, variables)
    return found


def secrets_of(variables):
    """The secret values among the variables, to keep out of any message."""
    secrets = [variables.get(name) for name in SECRET_VARIABLES] + [_url_password(variables.get(name)) for name in URL_VARIABLES]
    for login in variables.get("docker_registry_logins") or () if _is_list(variables.get("docker_registry_logins")) else ():
        if _is_mapping(login):
            secrets.append(login.get("password"))
    for client in variables.get("speech_lb_client_keys") or () if _is_list(variables.get("speech_lb_client_keys")) else ():
        secrets.append(client.get("key") if _is_mapping(client) else client)
    return [secret for secret in secrets if isinstance(secret, str) and len(secret) >= MIN_SCRUBBED_SECRET_LENGTH]


def _secret_forms(secret):
    """The secret and what a message could show of it: its start (shown() shortens) and both with escapes (repr)."""
    whole = (secret, repr(secret)[1:-1]) if len(secret) <= MAX_LINE else ()
    forms = whole + (secret[:MAX_SHOWN], repr(secret[:MAX_SHOWN])[1:-1])
    return [form for form in forms if MIN_SCRUBBED_SECRET_LENGTH <= len(form) <= MAX_LINE]


def _url_password(value):
    """The password of a URL's user:password@, or None."""
    if not isinstance(value, str) or "@" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def scrub(text, secrets):
    for form in sorted(set(form for secret in secrets for form in _secret_forms(secret)), key=len, reverse=True):
        text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
    return text


def _where(hosts, every_host):
    if len(hosts) == every_host or not hosts:
        return ""
    named = ", ".join(hosts[:MAX_HOSTS_NAMED])
    more = len(hosts) - MAX_HOSTS_NAMED
    return " (on {0}{1})".format(named, " and {0} more".format(more) if more > 0 else "")


def unreadable_findings(unreadable):
    """Findings of the variables whose template failed to render ({name: the error})."""
    return [finding(name, "{0} could not be evaluated: {1}".format(name, error),
                    "fix the template or the variables it uses, or set {0} to a plain value".format(name))
            for name, error in sorted(unreadable.items())]


def check_hosts(variables_by_host, unreadable_by_host=None):
    """{host: {name: value}} -> {"failures", "ok", "text"}: each distinct violation once, with the hosts it is on
    unless it is on all of them; no secret of any host in the text. unreadable_by_host: {host: {name: error}}."""
    order, hosts_of, secrets = [], {}, []
    for host in sorted(variables_by_host, key=str):
        variables = variables_by_host[host]
        secrets += secrets_of(variables)
        for entry in unreadable_findings((unreadable_by_host or {}).get(host) or {}) + check(variables):
            key = (entry["check"], entry["message"], entry["fix"])
            if key not in hosts_of:
                order.append(key)
                hosts_of[key] = []
            hosts_of[key].append(str(host))
    failures = []
    for key in order:
        failures.append({"check": key[0], "message": scrub(key[1] + _where(hosts_of[key], len(variables_by_host)), secrets),
                         "fix": scrub(key[2], secrets)})
    return {"failures": failures, "ok": not failures, "text": format_report(failures)}


def format_report(failures):
    """Like the fleet inputs' report: a header, then one line per violation with its fix."""
    if not failures:
        return "variables: OK (the contract of {0} variables, plugins/module_utils/contract.py)".format(len(RULES))
    lines = ["variables: FAILED ({0} violation{1} of the contract, plugins/module_utils/contract.py; nothing was read "
             "or changed on any host)".format(len(failures), "" if len(failures) == 1 else "s")]
    lines += ["  - [{0}] {1} -> {2}".format(entry["check"], entry["message"], entry["fix"]) for entry in failures]
    return "\n".join(lines)


def table():
    """The rules as rows for docs/variables.md: (variable, type, rule, default)."""
    return [(name, rule.type, rule.form.text, rule.default, rule.used) for name, rule in sorted(RULES.items())]
