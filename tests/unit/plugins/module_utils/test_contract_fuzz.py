# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz every documented variable through the controller-side checks: the contract, then the plan.

For each variable of contract.RULES, values of every type: valid ones (its default, documented examples), out of
range, the wrong type (a boolean for an integer, an integer for a string, a list for a mapping, null), odd strings
(control characters, whitespace, other scripts, huge). Each value is either refused by the contract with a message
naming the variable, or accepted; an accepted value of a plan input then goes through the plan filter on three fake
hosts, which plans or refuses it with a message naming the variable (or a service of speech_services, when it no
longer fits). Nothing raises anything else, and no example takes more than MAX_SECONDS.

Budget: the hypothesis profile "contract" (EXAMPLES_PER_VARIABLE, derandomized, in `make unit`), or "contract-fuzz"
(FUZZ_EXAMPLES_PER_VARIABLE, random) with SPEECH_CONTRACT_FUZZ=1 (`make fuzz`). test_zz_statistics prints, per
variable, the examples, the refusals and the slowest example, and writes them to tests/output/contract-fuzz.txt.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.filter import plan as plan_filter
from ansible_collections.speechops.speech.plugins.filter.preflight import speech_contract
from ansible_collections.speechops.speech.plugins.module_utils import catalog, contract

EXAMPLES_PER_VARIABLE = 25
FUZZ_EXAMPLES_PER_VARIABLE = 500
MAX_SECONDS = 2.0
FUZZING = os.environ.get("SPEECH_CONTRACT_FUZZ", "") not in ("", "0")
OUTPUT = Path(__file__).resolve().parents[3] / "output" / "contract-fuzz.txt"
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("contract", max_examples=EXAMPLES_PER_VARIABLE, derandomize=True, deadline=None,
                          suppress_health_check=SUPPRESSED, database=None)
settings.register_profile("contract-fuzz", max_examples=FUZZ_EXAMPLES_PER_VARIABLE, deadline=None,
                          suppress_health_check=SUPPRESSED)
PROFILE = settings.get_profile("contract-fuzz" if FUZZING else "contract")
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the huge strings' reprs

# The plan filter's option of each fleet-wide plan input (playbooks/tasks/plan.yml), and the per-host ones.
PLAN_OPTIONS = {
    "speech_port_base": "port_base", "speech_port_max": "port_max", "speech_placement_strategy": "strategy",
    "speech_rebalance": "rebalance", "speech_max_moves": "max_moves", "speech_registry": "registry",
    "speech_sizing_profile": "profile", "speech_allow_unknown_tags": "allow_unknown_tags",
    "speech_allow_retired_kinds": "allow_retired_kinds", "speech_lb_port_base": "lb_port_base",
    "speech_model_memory": "model_memory",
}
HOST_INPUTS = ("speech_fault_domain", "speech_reserved_cpus", "speech_reserved_memory_mb", "speech_pinned", "speech_address")
FACTS = {"vcpus_usable": 16.0, "memory_usable_mb": 65536, "avx2": True, "ports_in_use": [22]}
HOSTS = ("h1", "h2", "h3")
SERVICES = [{"name": "lid", "kind": "language-detection", "version": "1.18.0", "replicas": 2, "cpus": 1, "memory_mb": 1024}]

GUID = "c0ffee00-0000-4000-8000-000000000001"
# Values the documents give (or that hold the forms), beside each rule's default.
VALID = {
    "speech_eula": ["accept", "ACCEPT"], "speech_billing_endpoint": ["https://contoso.cognitiveservices.azure.com/"],
    "speech_api_key": ["0123456789abcdef0123456789abcdef"], "speech_api_key_secondary": ["fedcba9876543210fedcba9876543210"],
    "speech_http_proxy": ["http://proxy.example.internal:3128"], "speech_http_proxy_creds": ["user:pa55word"],
    "speech_no_proxy": [[".example.internal", "10.0.0.0/8"]], "speech_license_expires_on": ["2027-01-31"],
    "speech_registry": ["registry.example.internal:5000/mirror"], "speech_bind_address": ["192.0.2.11", "::"],
    "speech_image_archives": [{"registry.sandbox:5000/x:1": "/tmp/x.tar"}], "speech_sizing_profile": list(catalog.SIZING_PROFILES),
    "speech_fault_domain": ["rack-a", 3], "speech_pinned": [["lid"], [{"service": "lid", "port": 5200}]],
    "speech_address": ["192.0.2.11", "speech-01.example.internal"], "speech_lb_address": ["speech.example.internal"],
    "speech_lb_ports": [{"lid": 8003}], "speech_artifacts_dir": ["/srv/artifacts"], "speech_rollout_serial": [[1, "25%"], 2, "50%"],
    "speech_remove_services": [["lid"]], "speech_remove_hosts": [["h1"]], "speech_jobs_usage_month": ["01/2026"],
    "speech_display_models_ids": [{"PunctId": GUID}], "speech_display_models_service": ["cstt-contoso"],
    "speech_display_models_types": [["Punct", "Rescore"]], "speech_display_models_action": ["list", "download"],
    "docker_http_proxy": ["http://user:pa55@proxy.example.internal:3128"], "docker_registry_logins": [
        [{"registry": "registry.example.internal:5000", "username": "speech-pull", "password": "0123456789abcdef"}]],
    "docker_registry_cas": [[{"registry": "registry.example.internal:5000",
                              "ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}]],
    "loadbalancer_tls_common_name": ["lb.example.com"], "loadbalancer_tls_subject_alt_names": [["DNS:lb.example.com"]],
    "loadbalancer_hosts": [["lb1"]], "speech_containers_lb_hosts": [["lb1"]], "speech_containers_removals": [["speech-lid-1"]],
    "loadbalancer_servers": [[{"backend": "lid", "server": "speech-lid-1", "ready_url": "http://192.0.2.11:5100/ready"}]],
    "speech_services": [SERVICES, [{"name": "cstt-contoso", "kind": "custom-speech-to-text", "version": "5.1.0",
                                    "model_id": GUID, "replicas": 1, "cpus": 2, "memory_mb": 4096, "model_memory_mb": 0}]],
}

PADDING = st.sampled_from([" ", "\t", "\n", "\r\n", "\u00a0", "\u2028", "\u3000"])
CONTROL = st.sampled_from(["\x00", "\x07", "\x1b[31m", "\r\nX-Injected: 1", "\u202e", "\ufeff", "\u200b", "\ud800"])
ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(lambda text, pad: pad + text, st.text(max_size=10), PADDING),
    st.builds(lambda text, pad: text + pad, st.text(max_size=10), PADDING),
    st.builds(lambda text, char: text + char + text, st.text(max_size=10), CONTROL),
    st.builds(lambda char, count: char * count, st.characters(), st.integers(100, 5000)),
    st.sampled_from(["x" * 10 ** 6, "\u2028" * 10 ** 5, "\u00e9\u0301" * 10 ** 5, "0" * 70000]),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e400", "-1", "0", "²", "١٢", "true", "None", "null", "{{ x }}",
                     "__omit_place_holder__0", "a,b", "../..", "/", "http://", "https://user:pw@h/?q#f", "%", "0%", "101%"]),
)
NUMBERS = st.one_of(st.integers(-10, 70000), st.integers(-10 ** 30, 10 ** 30), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans())
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT, st.dates())
ANY = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                   | st.dictionaries(st.one_of(ODD_TEXT, st.integers()), children, max_size=4), max_leaves=8)
TYPED = {
    "bool": st.one_of(st.booleans(), st.sampled_from(["true", "false", "yes", "no", "True", "1", "0", "maybe"]), st.integers(-1, 2)),
    "int": st.one_of(st.integers(-10, 100000), st.integers(-10 ** 20, 10 ** 20), st.integers(0, 100000).map(str), st.booleans(),
                     st.floats(allow_nan=True, allow_infinity=True)),
    "float": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10 ** 6), st.booleans(),
                       st.sampled_from(["0.5", "nan", "inf", "1e3"])),
    "str": ODD_TEXT, "path": ODD_TEXT.map(lambda text: "/" + text) | ODD_TEXT,
    "list": st.lists(SCALARS, max_size=5), "dict": st.dictionaries(ODD_TEXT, SCALARS, max_size=5),
    "raw": ANY,
}


def mutations(value):
    """Values near a valid one: padded, broken by a control character, off by one, of the neighbouring type."""
    if isinstance(value, str):
        return st.one_of(st.builds(lambda pad: value + pad, PADDING), st.builds(lambda pad: pad + value, PADDING),
                         st.builds(lambda char: value[: len(value) // 2] + char + value[len(value) // 2:], CONTROL),
                         st.just(value.upper()), st.just(value[:-1]), st.just([value]), st.just(value * 100))
    if isinstance(value, bool):
        return st.sampled_from([int(value), str(value), str(value).lower(), not value, None])
    if isinstance(value, int):
        return st.sampled_from([-value - 1, value + 1, value * 10 ** 9, str(value), float(value), bool(value), None,
                                str(value) + "\n", float("nan")])
    if isinstance(value, float):
        return st.sampled_from([-value - 1, float("nan"), float("inf"), str(value), True])
    if isinstance(value, list):
        return st.one_of(st.just(value + value), st.builds(lambda junk: value + [junk], SCALARS), st.just([value]),
                         st.just(dict(enumerate(value))), st.just(value * 1000))
    if isinstance(value, dict):
        return st.one_of(st.builds(lambda key, junk: dict(value, **{key: junk}), ODD_TEXT, SCALARS),
                         st.just(list(value.items())), st.just(None))
    return st.just(value)


def service_strategy():
    """speech_services entries mixing valid and invalid fields."""
    field = {
        "name": st.one_of(st.sampled_from(["lid", "stt-en-us", "cstt-contoso"]), ODD_TEXT),
        "kind": st.one_of(st.sampled_from(catalog.KINDS), ODD_TEXT, st.integers()),
        "replicas": st.one_of(st.integers(-2, 12), st.integers(0, 10 ** 12), st.booleans(), st.integers(0, 9).map(str), ODD_TEXT,
                              st.floats(allow_nan=True)),
        "version": st.one_of(st.sampled_from(["1.18.0", "5.1.0", "4.1.0", "9.9.9", "5.1"]), ODD_TEXT),
        "locale": st.one_of(st.sampled_from(["en-US", "de-DE", "xx-XX"]), ODD_TEXT),
        "voice": st.one_of(st.sampled_from(["en-US-AriaNeural", "en-US-NobodyNeural"]), ODD_TEXT),
        "model_id": st.one_of(st.just(GUID), st.just("my model; rm -rf /"), ODD_TEXT),
        "cpus": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 64), st.booleans(), ODD_TEXT),
        "memory_mb": st.one_of(st.integers(-1, 10 ** 6), st.booleans(), ODD_TEXT),
        "model_memory_mb": st.one_of(st.integers(-1, 10 ** 5), st.booleans()),
        "settings": st.one_of(st.dictionaries(ODD_TEXT, SCALARS, max_size=3), ODD_TEXT),
        "extra_settings": st.one_of(st.dictionaries(st.sampled_from(["Emulator__X", "A:B", "Bad Key", "K\n"]), SCALARS, max_size=3),
                                    ODD_TEXT),
        "lb_port": st.one_of(st.integers(-1, 70000), st.booleans()),
        "decoder_max_count": st.one_of(st.integers(-1, 20), st.booleans()),
        "concurrency": st.one_of(st.integers(-1, 20), st.booleans()),
        "profile": st.one_of(st.sampled_from(catalog.SIZING_PROFILES), ODD_TEXT),
        "replica": st.integers(0, 3),
    }
    base = st.sampled_from([{"name": "lid", "kind": "language-detection", "replicas": 2},
                            {"name": "stt-en-us", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "replicas": 1,
                             "cpus": 2, "memory_mb": 4096, "model_memory_mb": 0},
                            {"name": "cstt-contoso", "kind": "custom-speech-to-text", "model_id": GUID, "replicas": 1,
                             "cpus": 2, "memory_mb": 4096, "model_memory_mb": 0}])
    changes = st.dictionaries(st.sampled_from(sorted(field)), st.none(), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries(dict((key, field[key]) for key in keys)))
    return st.builds(lambda entry, changed: dict(entry, **changed), base, changes)


def values_of(name):
    rule = contract.RULES[name]
    known = ([rule.default] if rule.default is not None else []) + VALID.get(name, [])
    options = [TYPED[rule.type], ANY, st.none()]
    if known:
        options = [st.sampled_from(known), st.sampled_from(known).flatmap(mutations)] + options
    if name == "speech_services":
        options.append(st.lists(service_strategy(), max_size=3))
    return st.one_of(options)


STATS = dict((name, {"examples": 0, "contract": 0, "plan_refused": 0, "planned": 0, "seconds": 0.0, "slowest": 0.0})
             for name in contract.RULES)


def plan_with(name, value):
    """Plan the fixed fleet with one input set to value: the plan, or the filter's error message."""
    services = value if name == "speech_services" else SERVICES
    hostvars = dict((host, {"speech_host": dict(FACTS), "ansible_host": "192.0.2.%d" % (10 + index)})
                    for index, host in enumerate(HOSTS))
    options = {}
    if name in HOST_INPUTS:
        hostvars["h1"][name] = value
    elif name in PLAN_OPTIONS:
        options[PLAN_OPTIONS[name]] = value
    try:
        return plan_filter.plan(services, list(HOSTS), hostvars=hostvars, **options), None
    except AnsibleFilterError as exc:
        return None, str(exc)


def names_the_input(name, message):
    """A plan's refusal names the variable, or (a host input that leaves too little room) the services that no longer fit."""
    return name in message or (name in HOST_INPUTS + ("speech_port_base", "speech_port_max")
                               and "speech_services[" in message and "could not be placed" in message)


@pytest.mark.parametrize("name", sorted(contract.RULES))
def test_every_value_is_accepted_or_refused_naming_the_variable(name):
    @settings(PROFILE)
    @given(value=values_of(name))
    def run(value):
        stats = STATS[name]
        started = time.perf_counter()
        report = speech_contract({name: value})
        if not report["ok"]:
            stats["contract"] += 1
            assert all(name in entry["message"] for entry in report["failures"]), report["text"]
            assert all(entry["check"] == name for entry in report["failures"]), report["text"]
        elif name == "speech_services" or name in PLAN_OPTIONS or name in HOST_INPUTS:
            plan, refusal = plan_with(name, value)
            if plan is None:
                stats["plan_refused"] += 1
                assert names_the_input(name, refusal), refusal
            else:
                stats["planned"] += 1
        elapsed = time.perf_counter() - started
        stats["examples"] += 1
        stats["seconds"] += elapsed
        stats["slowest"] = max(stats["slowest"], elapsed)
        assert elapsed < MAX_SECONDS, "%s took %.2f s with %s" % (name, elapsed, contract.shown(value))
    run()


def statistics_table():
    total = dict((key, sum(stats[key] for stats in STATS.values())) for key in ("examples", "contract", "plan_refused", "planned"))
    seconds = sum(stats["seconds"] for stats in STATS.values())
    lines = ["contract fuzz (%s profile, %d per variable asked): %d variables, %d examples, %d refused by the contract, "
             "%d refused by the plan, %d planned; %.2f ms per example on average, slowest %.0f ms" % (
                 "contract-fuzz" if FUZZING else "contract", PROFILE.max_examples, len(STATS), total["examples"],
                 total["contract"], total["plan_refused"], total["planned"], 1000 * seconds / max(total["examples"], 1),
                 1000 * max(stats["slowest"] for stats in STATS.values())),
             "%-42s %8s %9s %8s %8s %9s %9s" % ("variable", "examples", "contract", "plan", "planned", "mean ms", "max ms")]
    for name, stats in sorted(STATS.items()):
        lines.append("%-42s %8d %9d %8d %8d %9.3f %9.1f" % (
            name, stats["examples"], stats["contract"], stats["plan_refused"], stats["planned"],
            1000 * stats["seconds"] / max(stats["examples"], 1), 1000 * stats["slowest"]))
    return "\n".join(lines)


def test_zz_statistics(capsys):
    """Runs after the fuzzing above (tests run in file order): print and keep its figures, to quote them."""
    if not any(stats["examples"] for stats in STATS.values()):
        pytest.skip("no variable was fuzzed in this run")
    text = statistics_table()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    with capsys.disabled():
        print("\n" + text.splitlines()[0] + "\n(per variable: %s)" % OUTPUT)


def test_a_date_the_yaml_reader_made_is_refused_not_crashed():
    report = speech_contract({"speech_license_expires_on": datetime.date(2027, 1, 31)})
    assert not report["ok"] and "unquoted in YAML" in report["text"]
