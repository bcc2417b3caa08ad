# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/module_utils/contract.py: the variables' contract, its messages, and the inputs it must keep accepting."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.speechops.speech.plugins.filter.preflight import speech_contract
from ansible_collections.speechops.speech.plugins.module_utils import contract

REPO = Path(__file__).resolve().parents[4]
SECRET = "0123456789abcdef0123456789abcdef"


def messages(variables):
    return [entry["message"] for entry in contract.check(variables)]


def report_text(variables_by_host):
    return contract.check_hosts(variables_by_host)["text"]


# --- the issue's examples, word for word ---------------------------------------------------------------------------

EXAMPLES = [
    ({"speech_services": [{"name": "stt", "kind": "speech-to-text", "replicas": 1000000000}]},
     "speech_services[0].replicas must be an integer >= 0 and <= 10000, got 1000000000",
     "set speech_services[0].replicas to the number of containers to run, e.g. 2"),
    ({"speech_services": [{"name": "cstt", "kind": "custom-speech-to-text", "replicas": 1, "model_id": "my model; rm -rf /"}]},
     "speech_services[0].model_id must be the custom model's ID, a GUID (from Speech Studio), got 'my model; rm -rf /'",
     "set speech_services[0].model_id to a GUID such as 00000000-0000-0000-0000-000000000000"),
    ({"speech_rollout_serial": 0},
     "speech_rollout_serial must be a count >= 1, a percentage \"N%\" of 1-100, or a non-empty list of those, got 0",
     "set speech_rollout_serial to [1, \"25%\"]"),
    ({"speech_drain_timeout": -5},
     "speech_drain_timeout must be an integer >= 0 and <= 604800 (seconds), got -5",
     "set speech_drain_timeout to a number of seconds, e.g. 600"),
    ({"speech_http_proxy": "proxy corp 3128"},
     "speech_http_proxy must be empty, or a URL http://[user:password@]host[:port] (or https://) and nothing else (or the "
     "credentials in speech_http_proxy_creds), got 'proxy corp 3128'",
     "set speech_http_proxy to http://proxy.example.com:3128"),
    ({"speech_sizing_profile": "bogus"},
     "speech_sizing_profile must be one of minimum, recommended, 2026, 2026-minimum, 2022, 2022-minimum, 2020, "
     "2020-minimum, got 'bogus'",
     "set speech_sizing_profile to one of minimum, recommended, 2026, 2026-minimum, 2022, 2022-minimum, 2020, 2020-minimum"),
    ({"speech_registry": "bad registry;"},
     "speech_registry must be a lowercase registry host[:port][/path] without a scheme, got 'bad registry;'",
     "set speech_registry to a registry such as mcr.microsoft.com or registry.example.com:5000/mirror"),
    ({"speech_billing_endpoint": "westeurope"},
     "speech_billing_endpoint must be empty, or a URL https://[user:password@]host[:port][/path] (or http://) and nothing "
     "else (no query or fragment); http only with speech_allow_http_billing, got 'westeurope'",
     "set speech_billing_endpoint to https://<resource>.cognitiveservices.azure.com/"),
    ({"speech_billing_endpoint": "http://westeurope.api.cognitive.microsoft.com/"},
     "speech_billing_endpoint must use https, got 'http://westeurope.api.cognitive.microsoft.com/': http only with "
     "speech_allow_http_billing: true (sandbox and emulator fleets)",
     "set speech_billing_endpoint to your Speech resource's endpoint, e.g. https://<resource>.cognitiveservices.azure.com/"),
]


@pytest.mark.parametrize("variables, message, fix", EXAMPLES, ids=[sorted(case[0])[0] for case in EXAMPLES])
def test_the_issues_examples_name_the_variable_and_the_fix(variables, message, fix):
    found = contract.check(variables)
    assert [(entry["message"], entry["fix"]) for entry in found] == [(message, fix)]
    assert found[0]["check"] == sorted(variables)[0]


def test_every_violation_is_collected_one_line_each():
    variables = dict(item for case in EXAMPLES[:7] for item in case[0].items())
    variables["speech_services"] = EXAMPLES[0][0]["speech_services"] + EXAMPLES[1][0]["speech_services"]
    report = contract.check_hosts({"h1": variables})
    assert not report["ok"] and len(report["failures"]) == 7
    lines = report["text"].splitlines()
    assert lines[0].startswith("variables: FAILED (7 violations of the contract") and len(lines) == 8
    assert all(line.startswith("  - [") and " -> " in line for line in lines[1:])


def test_a_violation_on_some_hosts_names_them_and_one_on_every_host_does_not():
    text = report_text({"h1": {"speech_drain_timeout": -5, "speech_fault_domain": "rack a\n"},
                        "h2": {"speech_drain_timeout": -5}})
    assert "got -5 ->" in text and "got 'rack a\\n' (a control character) (on h1) ->" in text
    many = report_text({"h%d" % number: {"speech_address": "a b"} if number < 8 else {} for number in range(10)})
    assert "(on h0, h1, h2, h3, h4 and 3 more)" in many


# --- the defaults and the inputs the collection already ships ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(contract.RULES))
def test_every_default_keeps_its_own_rule(name):
    rule = contract.RULES[name]
    if rule.default is not None:
        assert contract.check({name: rule.default}) == []


def plain_values(node, found):
    """Every variable of the contract in a YAML tree whose value holds no template."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in contract.RULES and "{{" not in repr(value):
                found.append((key, value))
            plain_values(value, found)
    elif isinstance(node, list):
        for item in node:
            plain_values(item, found)
    return found


def shipped_values():
    files = sorted((REPO / "molecule").glob("*/host_vars/*.yml")) + sorted((REPO / "molecule").glob("*/vars/*.yml")) \
        + sorted((REPO / "molecule").glob("*/converge.yml")) + sorted((REPO / "inventories").glob("*/group_vars/all/*.yml"))
    values = []
    for path in files:
        if path.name == "vault.yml":
            continue
        for key, value in plain_values(yaml.safe_load(path.read_text(encoding="utf-8")), []):
            values.append(pytest.param(key, value, id="%s:%s" % (path.relative_to(REPO), key)))
    return values


@pytest.mark.parametrize("name, value", shipped_values())
def test_the_inventories_and_scenarios_we_ship_keep_their_contract(name, value):
    assert messages({name: value}) == []


# --- types: booleans are not numbers, NaN is not a number, text has no control character -----------------------------

@pytest.mark.parametrize("variables, fragment", [
    ({"speech_drain_timeout": True}, "got true (a boolean is not a number)"),
    ({"speech_reserved_cpus": float("nan")}, "speech_reserved_cpus must be a number >= 0 and <= 1024 (cores), finite"),
    ({"speech_reserved_cpus": float("inf")}, "got inf"),
    ({"speech_reserved_cpus": "nan"}, "got 'nan'"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": True}]}, "got true (a boolean is not a number)"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": 1, "cpus": float("-inf")}]},
     "speech_services[0].cpus must be a number > 0 and <= 1024 (cores), finite"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": 1, "extra_settings": {"A": " x"}}]},
     "speech_services[0].extra_settings.A must be one line"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": 1, "extra_settings": {"A": float("nan")}}]},
     "(NaN or an infinity)"),
    ({"speech_log_level": "Debug\r\nX-Injected: 1"}, "speech_log_level must be one of"),
    ({"speech_no_proxy": ["a.example", " b.example"]}, "speech_no_proxy[1] must be"),
    ({"speech_config_dir": "/etc/speechops\n"}, "(a control character)"),
    ({"speech_data_dir": "/srv/a:b"}, "Docker mounts it"),
    ({"speech_firewall_allow": ["192.0.2.0/24", "10.0.0.5/24"]}, "speech_firewall_allow[1] must be an address or a network"),
    ({"speech_config_dir": "/etc/../tmp"}, "speech_config_dir must be an absolute path without '..'"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": 1, "version": "1.0.0 "}]},
     "speech_services[0].version must be a non-empty string without whitespace"),
    ({"speech_eula": 1}, "speech_eula is 1: the containers start only with Eula=accept"),
    ({"speech_smoke": 1}, "speech_smoke must be true or false, got 1"),
    ({"speech_license_expires_on": datetime.date(2027, 1, 31)}, "got the date 2027-01-31 (unquoted in YAML)"),
    ({"speech_license_expires_on": "2027-02-30"}, "speech_license_expires_on must be empty, or a date YYYY-MM-DD"),
    ({"loadbalancer_timeout_queue": "30 s"}, "loadbalancer_timeout_queue must be an HAProxy time"),
    ({"speech_port_base": 6000, "speech_port_max": 5000}, "speech_port_max (5000) must be >= speech_port_base (6000)"),
    ({"speech_display_models_types": ["FullDisplay", "Punct"]}, "FullDisplay (all four) stands alone"),
    ({"speech_display_models_ids": {"PunctId": "x"}}, "speech_display_models_ids.PunctId must be a model ID, a GUID"),
    ({"docker_http_proxy": "http://proxy.example.com:3128/?x=1"}, "docker_http_proxy must be empty, or a URL"),
    ({"speech_http_proxy": "http://proxy.example.com:3128/path"}, "speech_http_proxy must be empty, or a URL"),
    ({"speech_billing_endpoint": "https://contoso.cognitiveservices.azure.com/?key=1"}, "(no query or fragment)"),
    ({"speech_services": "stt-en-us"}, "speech_services must be a list of services, got 'stt-en-us'"),
    # a regular expression's $ matches before a final newline: every form matches the whole value
    ({"speech_drain_timeout": "300\n"}, "got '300\\n'"),
    ({"speech_rollout_serial": "25%\n"}, "speech_rollout_serial must be"),
    ({"speech_remove_services": ["lid\n"]}, "speech_remove_services[0] must be a service name"),
    ({"speech_services": [{"name": "lid\n", "kind": "language-detection", "replicas": 1}]}, "speech_services[0].name must be"),
    ({"speech_services": [{"name": "lid", "kind": "language-detection", "replicas": 1, "extra_settings": {"K\n": "v"}}]},
     "speech_services[0].extra_settings has an invalid setting name 'K\\n'"),
    ({"speech_image_disk_mb": {"speech-to-text\n": 1}}, "speech_image_disk_mb has the key"),
    ({"speech_drain_timeout": "\u00b2"}, "speech_drain_timeout must be an integer"),
])
def test_refused(variables, fragment):
    assert any(fragment in message for message in messages(variables)), messages(variables)


@pytest.mark.parametrize("variables", [
    {"speech_drain_timeout": "300"},  # -e speech_drain_timeout=300
    {"speech_smoke": "false"},
    {"speech_reserved_cpus": 0.5},
    {"speech_rollout_serial": [1, "25%", 5]},
    {"speech_rollout_serial": "50%"},
    {"speech_billing_endpoint": "http://172.31.213.3:5001/", "speech_allow_http_billing": "true"},
    {"speech_http_proxy": "http://[2001:db8::1]:3128"},
    {"docker_https_proxy": "http://user:pa55word@proxy.example.com:3128"},
    # the secrets suite's planted credentials (tests/hardening/test_secrets.py): masked wherever they are quoted
    {"speech_http_proxy": "http://proxyuser:proxyurl-0123456789abcdef0123@proxy.invalid:3128",
     "speech_billing_endpoint": "http://billinguser:billing-0123456789abcdef0123@172.31.213.3:5001/",
     "speech_allow_http_billing": True},
    {"speech_no_proxy": [".example.internal", "10.0.0.0/8", "host:8080", "*"]},
    {"speech_firewall_allow": ["192.0.2.10", "198.51.100.0/24", "2001:db8::/64"], "speech_firewall": "false"},
    {"docker_no_proxy": "localhost,127.0.0.1,.example.internal"},
    {"loadbalancer_timeout_connect": 5000},
    {"speech_fault_domain": 3},
    {"speech_log_level": "information"},
    {"speech_pinned": ["lid", {"service": "stt-en-us", "port": 5200}]},
    {"speech_image_archives": {"registry.sandbox:5000/x:1": "/tmp/x.tar"}},
    {"speech_license_expires_on": "2027-01-31"},
    {"speech_jobs_usage_month": "01/2026"},
    {"loadbalancer_tls_selfsigned_not_after": "+32w1d2h"},
    {"docker_registry_cas": [{"registry": "registry.example.com:5000",
                              "ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}]},
])
def test_accepted(variables):
    assert messages(variables) == []


# --- secrets ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", contract.SECRET_VARIABLES)
def test_a_bad_secret_is_refused_without_a_character_of_it(name):
    value = SECRET[:20] + " \n" + SECRET[20:]
    found = contract.check({name: value})
    assert found and name in found[0]["message"]
    text = report_text({"h1": {name: value}})
    assert SECRET[:8] not in text and SECRET[-8:] not in text and "34-character string" in text


def test_the_start_of_a_long_secret_shown_elsewhere_is_redacted_too():
    key = "-----BEGIN PRIVATE KEY-----\n" + SECRET * 40 + "\n-----END PRIVATE KEY-----\n"
    text = report_text({"h1": {"loadbalancer_tls_private_key": key, "speech_address": key, "speech_log_level": key}})
    assert SECRET[:8] not in text and "BEGIN PRIVATE" not in text and text.count("<redacted>") == 2


@pytest.mark.parametrize("name", contract.URL_VARIABLES)
def test_a_password_in_a_url_is_never_shown(name):
    text = report_text({"h1": {name: "ftp://speech:%s@proxy corp:3128" % SECRET}})
    assert name in text and SECRET[:8] not in text and "speech:<masked>@" in text


def test_a_secret_pasted_into_another_variable_is_redacted_everywhere():
    text = report_text({"h1": {"speech_api_key": SECRET, "speech_address": SECRET + " x",
                               "docker_registry_logins": [{"registry": "https://" + SECRET, "username": "u", "password": SECRET}]}})
    assert SECRET not in text and SECRET.upper() not in text and "<redacted>" in text


# --- the filter reads what each host sees ----------------------------------------------------------------------------

class BrokenVariables(dict):
    """A host's variables whose template fails to render (an undefined variable in the inventory, say)."""

    def __getitem__(self, key):
        raise RuntimeError("'vault_speech_api_key' is undefined")


def test_the_filter_reads_each_host_and_reports_what_it_cannot_render():
    hostvars = {"h1": {"speech_drain_timeout": "-5", "unrelated": object()},
                "lb1": BrokenVariables(speech_api_key="{{ vault_speech_api_key }}")}
    report = speech_contract(hostvars, ["h1", "lb1", "h1"])
    assert report["text"].splitlines()[1:] == [
        "  - [speech_drain_timeout] speech_drain_timeout must be an integer >= 0 and <= 604800 (seconds), got '-5' (on h1)"
        " -> set speech_drain_timeout to a number of seconds, e.g. 600",
        "  - [speech_api_key] speech_api_key could not be evaluated: 'vault_speech_api_key' is undefined (on lb1)"
        " -> fix the template or the variables it uses, or set speech_api_key to a plain value",
    ]
    assert speech_contract({"speech_rollout_serial": [1, "25%"]})["ok"]


# --- the hardening lane's bad inputs: where the contract refuses one first, its message still says what they expect ---

def hardening_cases():
    stub = types.ModuleType("hosts")
    stub.SANDBOX_GROUP_VARS = REPO / "inventories" / "sandbox" / "group_vars"
    for name in ("fingerprint", "on_host", "playbook", "scenario_hosts", "write_inventory"):
        setattr(stub, name, None)
    spec = importlib.util.spec_from_file_location("hardening_bad_inputs", REPO / "tests" / "hardening" / "test_bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    saved = dict((name, sys.modules.get(name)) for name in ("hosts", spec.name))
    sys.modules.update({"hosts": stub, spec.name: module})  # a dataclass finds its module there
    try:
        spec.loader.exec_module(module)
    finally:
        for name, previous in saved.items():
            if previous is None:
                del sys.modules[name]
            else:
                sys.modules[name] = previous
    return module.CASES


@pytest.mark.parametrize("case", hardening_cases(), ids=lambda case: case.name)
def test_a_hardening_case_the_contract_refuses_still_reads_as_expected(case):
    variables_by_host = dict((host, dict(case.variables, **case.host_vars.get(host, {}))) for host in case.hosts)
    report = contract.check_hosts(variables_by_host)
    for pattern in case.expect if not report["ok"] else ():  # accepted: the plan or preflight refuses it, as before
        assert re.search(pattern, report["text"]), (pattern, report["text"])
    assert report["ok"] or report["failures"][0]["check"] in report["text"]


def test_huge_and_deep_values_are_refused_quickly():
    deep = []
    for _depth in range(100):
        deep = [deep]
    found = messages({"speech_services": [{"name": "x" * 1000000, "kind": "k" * 10, "replicas": 10 ** 100}],
                      "docker_daemon_options": {"a": deep}, "speech_eula": "\u2028" * 10 ** 6})
    assert len(found) == 5
    assert all(len(message) < 400 for message in found)


def test_the_example_inventory_keeps_its_contract_with_its_vault_open():
    executable = Path(sys.executable).parent / "ansible-inventory"
    if not executable.exists():
        pytest.skip("ansible-inventory is not installed next to this Python")
    result = subprocess.run([str(executable), "-i", "inventories/example", "--vault-password-file",
                             "inventories/example.vault-password", "--list"], cwd=str(REPO), capture_output=True, text=True,
                            env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    vault = VaultLib([("default", VaultSecret((REPO / "inventories" / "example.vault-password").read_bytes().strip()))])

    def opened(value):  # a vaulted value at any depth (speech_lb_client_keys[].key)
        if isinstance(value, dict) and set(value) == {"__ansible_vault"}:
            return vault.decrypt(value["__ansible_vault"]).decode("utf-8")
        if isinstance(value, dict):
            return dict((key, opened(item)) for key, item in value.items())
        return [opened(item) for item in value] if isinstance(value, list) else value
    hostvars = dict((host, opened(variables)) for host, variables in json.loads(result.stdout)["_meta"]["hostvars"].items())
    report = speech_contract(hostvars, sorted(hostvars))
    assert report["ok"], report["text"]
    assert len(hostvars) == 4 and "speech_api_key" in hostvars["lb-01.example.internal"]


# --- every documented variable has a rule, and the rules agree with the argument specs -------------------------------

DOCUMENTS = ("README.md", "docs/variables.md", "docs/operations.md")
VARIABLE_RE = re.compile(r"\b(?:speech|docker|loadbalancer|preflight|gstreamer)_[a-z0-9_]*[a-z0-9]\b")
# Names in those documents that are no variable: groups, roles, modules and filters, a tag, a value, a fact the run sets.
NOT_VARIABLES = {"speech_hosts", "speech_lb", "speech_containers", "speech_jobs", "docker_container", "docker_configure",
                 "docker_repo", "speech_health"} | set(path.stem for path in (REPO / "plugins" / "filter").glob("*.yml")) \
    | set(path.stem for path in (REPO / "plugins" / "modules").glob("*.py"))


def spec_options():
    """(role, entry point, option, its spec) of every top-level option of every role's argument specs."""
    for path in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        for entry, spec in yaml.safe_load(path.read_text(encoding="utf-8"))["argument_specs"].items():
            for name, option in (spec.get("options") or {}).items():
                yield path.parts[-3], entry, name, option or {}


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_variable_a_document_names_has_a_rule(document):
    named = set(VARIABLE_RE.findall((REPO / document).read_text(encoding="utf-8"))) - NOT_VARIABLES
    assert sorted(named - set(contract.RULES)) == [], "documented in %s without a rule in contract.RULES" % document


@pytest.mark.parametrize("role, entry, name, option", [pytest.param(*row, id="%s.%s.%s" % row[:3]) for row in spec_options()])
def test_every_option_has_a_rule_of_its_type_and_default(role, entry, name, option):
    assert name in contract.RULES, "%s entry point %s: option %s has no rule in contract.RULES" % (role, entry, name)
    rule = contract.RULES[name]
    assert rule.type == option.get("type", "str"), "%s: the rule's type is not the argument spec's" % name
    assert rule.default == option.get("default"), "%s: the rule's default is not the argument spec's" % name
    choices = option.get("choices")
    if choices:
        as_value = (lambda choice: [choice]) if option.get("type") == "list" else (lambda choice: choice)
        assert all(contract.check({name: as_value(choice)}) == [] for choice in choices), name
        assert contract.check({name: as_value("not-" + choices[0])}), "%s accepts a value outside its choices" % name


def test_the_check_fails_for_a_variable_without_a_rule(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("Set `speech_new_knob` to tune it.", encoding="utf-8")
    assert set(VARIABLE_RE.findall(readme.read_text(encoding="utf-8"))) - set(contract.RULES) == {"speech_new_knob"}


def test_the_docs_show_the_rules_the_checks_use():
    text = (REPO / "docs" / "variables.md").read_text(encoding="utf-8")
    table = text.split("\n## The contract of every variable\n", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [line.split("`", 2)[1] for line in rows] == sorted(contract.RULES)
    assert "| `speech_drain_timeout` | int | an integer >= 0 and \\<= 604800 (seconds) | `600` |" in table
