"""Bad inputs: each case is one small change to the sandbox's inventory or variables. site.yml must fail
before it changes any host (the hosts' fingerprints before and after are equal, and the recap counts no
change), and its message must name the variable and say how to fix it.

Runs in the Molecule `preflight` scenario (hosts with nothing installed yet, so any change shows):
host1 is healthy, host2 has no AVX2, host3 is too small for the replica pinned to it.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

import pytest
import yaml

from hosts import SANDBOX_GROUP_VARS, fingerprint, on_host, playbook, scenario_hosts, write_inventory

# The scenario's healthy host and its host without AVX2.
HOST1 = os.environ.get("BAD_INPUTS_HOST", "speechops-molpf-host1")
HOST2 = os.environ.get("BAD_INPUTS_HOST_NO_AVX2", "speechops-molpf-host2")
HOST3 = os.environ.get("BAD_INPUTS_HOST_LB", "speechops-molpf-host3")  # a load balancer in the cases that need one
SERVICES = yaml.safe_load((SANDBOX_GROUP_VARS / "all" / "services.yml").read_text())["speech_services"]
STT, TTS, LID, CSTT = range(4)


def services(position=None, replace=None, drop=(), extra=()):
    """The sandbox's speech_services with one entry changed: `replace` merged into it, `drop` keys removed."""
    changed = copy.deepcopy(SERVICES)
    if position is not None:
        changed[position].update(replace or {})
        for key in drop:
            changed[position].pop(key, None)
    return changed + list(extra)


@dataclass
class Case:
    name: str
    variables: dict
    expect: list  # regular expressions the output must match: the variable, then the fix
    hosts: list = field(default_factory=lambda: [HOST1])
    host_vars: dict = field(default_factory=dict)
    lb_hosts: list = field(default_factory=list)


CASES = [
    # --- the services ---------------------------------------------------------------------------
    Case("unknown kind", {"speech_services": services(STT, {"kind": "speech-to-txt"})},
         [r"speech_services\[0\]\.kind must be one of", r"speech-to-text"]),
    Case("unknown locale", {"speech_services": services(STT, {"locale": "xx-XX"})},
         [r"speech_services\[0\]", r"xx-XX", r"locale"]),
    Case("unknown voice", {"speech_services": services(TTS, {"voice": "en-US-NobodyNeural"})},
         [r"speech_services\[1\]", r"en-US-NobodyNeural", r"voice"]),
    Case("voice and locale disagree", {"speech_services": services(TTS, {"voice": "de-DE-KatjaNeural", "locale": "en-US"})},
         [r"speech_services\[1\]", r"de-DE-KatjaNeural", r"locale"]),
    Case("version is not semver", {"speech_services": services(STT, {"version": "5.1.x"})},
         [r"speech_services\[0\]", r"version", r"5\.1\.x", r"major\.minor\.patch"]),
    Case("version with two parts", {"speech_services": services(TTS, {"version": "4.1"})},
         [r"speech_services\[1\]", r"version", r"4\.1"]),
    Case("replicas below zero", {"speech_services": services(LID, {"replicas": -1})},
         [r"speech_services\[2\]\.replicas must be an integer >= 0", r"-1"]),
    Case("replicas not an integer", {"speech_services": services(LID, {"replicas": "two"})},
         [r"speech_services\[2\]\.replicas must be an integer", r"two"]),
    Case("replicas missing", {"speech_services": services(LID, drop=["replicas"])},
         [r"speech_services\[2\]\.replicas is required", r"integer >= 0"]),
    Case("duplicate service names", {"speech_services": services(extra=[dict(SERVICES[STT], replicas=1)])},
         [r"speech_services\[4\]\.name 'stt-en-us' is used twice", r"must be unique"]),
    Case("unknown service key", {"speech_services": services(LID, {"replica": 2})},
         [r"speech_services\[2\] has unknown key\(s\) replica", r"use .*replicas"]),
    Case("cpus not a number", {"speech_services": services(STT, {"cpus": "lots"})},
         [r"speech_services\[0\]\.cpus must be a number", r"lots"]),
    Case("custom speech-to-text without model_id", {"speech_services": services(CSTT, drop=["model_id"])},
         [r"speech_services\[3\]\.model_id is required", r"Speech Studio"]),
    Case("settings not a mapping", {"speech_services": services(STT, {"extra_settings": "Logging=debug"})},
         [r"speech_services\[0\]\.extra_settings must be a mapping", r"setting name to value"]),
    Case("a setting the role owns", {"speech_services": services(STT, {"extra_settings": {"ApiKey": "x"}})},
         [r"speech_services\[0\]\.extra_settings\.ApiKey is not allowed", r"speech_api_key"]),
    Case("a setting with a line break", {"speech_services": services(STT, {"extra_settings": {"Logging:Console:LogLevel:Default": "a\nb"}})},
         [r"speech_services\[0\]\.extra_settings", r"one line"]),
    Case("speech_services not a list (YAML type)", {"speech_services": "stt-en-us"},
         [r"speech_services must be a list of services", r"stt-en-us"]),
    Case("a service that is a string (YAML type)", {"speech_services": services(extra=["tts-jenny"])},
         [r"speech_services\[4\] must be a mapping with name, kind and replicas"]),
    Case("lb_port out of range", {"speech_services": services(LID, {"lb_port": 70000})},
         [r"speech_services\[2\]\.lb_port 70000 is not a port", r"1\.\.65535"]),
    Case("two services on one lb_port", {"speech_services": services(STT, {"lb_port": 8100}, extra=[])[:LID]
                                         + [dict(SERVICES[LID], lb_port=8100), SERVICES[CSTT]]},
         [r"lb_port 8100 is also the lb_port of service", r"own"]),
    # --- ports and placement ---------------------------------------------------------------------
    Case("port base out of range", {"speech_port_base": 70000},
         [r"speech_port_base\.\.speech_port_max must lie within 1\.\.65535"]),
    Case("port max below port base", {"speech_port_base": 6000, "speech_port_max": 5000},
         [r"speech_port_max \(5000\) must be >= speech_port_base \(6000\)"]),
    Case("port range leaves no room", {"speech_port_base": 5000, "speech_port_max": 5002},
         [r"speech_port_max|speech_port_base", r"port"]),
    Case("load-balancer port base leaves no room", {"speech_lb_port_base": 65534},
         [r"speech_lb_port_base 65534 leaves no load-balancer port", r"lower it"]),
    Case("unknown placement strategy", {"speech_placement_strategy": "random"},
         [r"speech_placement_strategy must be one of", r"random"]),
    Case("pinned ports collide", {}, [r"speech_pinned\[1\]\.port 5200 collides with speech_pinned\[0\]\.port", r"must differ"],
         host_vars={HOST1: {"speech_pinned": [{"service": "stt-en-us", "port": 5200}, {"service": "tts-aria", "port": 5200}]}}),
    Case("pin of an unknown service", {}, [r"speech_pinned", r"must name a service of speech_services"],
         host_vars={HOST1: {"speech_pinned": [{"service": "stt-de-de"}]}}),
    Case("pinned port outside the range", {}, [r"speech_pinned\[0\]\.port 80 is outside speech_port_base\.\.speech_port_max"],
         host_vars={HOST1: {"speech_pinned": [{"service": "lid", "port": 80}]}}),
    Case("capacity exceeded", {"speech_services": services(STT, {"replicas": 40, "cpus": 4})},
         [r"stt-en-us", r"(?i)capacity|does not fit|cannot place"]),
    Case("no AVX2 host for the services", {}, [r"(?i)avx2", r"stt-en-us"], hosts=[HOST2]),
    # --- fleet inputs -----------------------------------------------------------------------------
    Case("Eula not accepted", {"speech_eula": "yes"},
         [r"speech_eula is 'yes'", r"set speech_eula: accept"]),
    Case("Eula missing", {"speech_eula": None}, [r"speech_eula", r"set speech_eula: accept"]),
    Case("placeholder API key", {"speech_api_key": "<your-api-key>"},
         [r"speech_api_key", r"(?i)placeholder|vault"]),
    Case("empty API key", {"speech_api_key": ""}, [r"speech_api_key", r"(?i)vault"]),
    Case("billing endpoint over http", {"speech_billing_endpoint": "http://westeurope.api.cognitive.microsoft.com/",
                                        "speech_allow_http_billing": False},
         [r"speech_billing_endpoint", r"https"]),
    Case("billing endpoint not a URL", {"speech_billing_endpoint": "westeurope"},
         [r"speech_billing_endpoint", r"https://"]),
    Case("key in use not primary or secondary", {"speech_api_key_in_use": "tertiary"},
         [r"speech_api_key_in_use is \"tertiary\"", r"set it to primary"]),
    # --- container options --------------------------------------------------------------------------
    Case("disconnected without a licence folder", {"speech_disconnected": True, "speech_license_dir": ""},
         [r"speech_license_dir", r"playbooks/license\.yml"]),
    Case("disconnected with a kind that has no disconnected mode", {"speech_disconnected": True},
         [r"language-detection has no disconnected mode", r"speech_disconnected: false"]),
    Case("image archives and pull always are mutually exclusive",
         {"speech_image_pull": "always", "speech_image_archives": {"registry.sandbox:5000/x:1": "/tmp/x.tar"}},
         [r"speech_image_pull", r"speech_image_archives", r"(?i)mutually exclusive|one or the other"]),
    Case("containers published on loopback behind a remote load balancer", {"speech_bind_address": "127.0.0.1"},
         [r"speech_bind_address is 127\.0\.0\.1", r"set speech_bind_address to"], lb_hosts=[HOST3]),
    Case("registry login with a URL instead of host:port",
         {"docker_registry_logins": [{"registry": "https://registry.sandbox:5000", "username": "u", "password": "p" * 16}]},
         [r"docker_registry_logins: registry 'https://registry\.sandbox:5000' must be host\[:port\]"]),
    Case("registry login without a password",
         {"docker_registry_logins": [{"registry": "registry.sandbox:5000", "username": "speechops"}]},
         [r"password", r"docker_registry_logins"]),
]


# Each variable's contract (plugins/module_utils/contract.py), checked on the controller before any host is read: one
# case per class of careless input, for every family of variables. The message names the variable and says the fix.
CONTRACT_CASES = [
    # the services: sizes a YAML file can hold, booleans and NaN are not numbers, a model ID is a GUID
    ("replicas a billion", {"speech_services": services(STT, {"replicas": 1000000000})}, r"speech_services\[0\]\.replicas"),
    ("replicas a boolean", {"speech_services": services(LID, {"replicas": True})}, r"speech_services\[2\]\.replicas"),
    ("cpus not a finite number", {"speech_services": services(STT, {"cpus": float("nan")})}, r"speech_services\[0\]\.cpus"),
    ("model_id not a GUID", {"speech_services": services(CSTT, {"model_id": "my model; rm -rf /"})},
     r"speech_services\[3\]\.model_id"),
    ("unknown sizing profile", {"speech_sizing_profile": "huge"}, r"speech_sizing_profile"),
    # registry and image archives
    ("registry with a scheme", {"speech_registry": "https://mcr.microsoft.com/"}, r"speech_registry"),
    ("registry with a leading space", {"speech_registry": " mcr.microsoft.com"}, r"speech_registry"),
    ("image pull policy unknown", {"speech_image_pull": "sometimes"}, r"speech_image_pull"),
    ("image archives a list", {"speech_image_archives": ["/srv/images/stt.tar"]}, r"speech_image_archives"),
    ("registry CA without its certificate", {"docker_registry_cas": [{"registry": "registry.sandbox:5000"}]},
     r"docker_registry_cas\[0\]\.ca"),
    # the billing endpoint and the outbound proxy
    ("billing endpoint with a line break", {"speech_billing_endpoint": "https://westeurope.api.cognitive.microsoft.com/\nX: 1"},
     r"speech_billing_endpoint"),
    ("proxy not a URL", {"speech_http_proxy": "proxy corp 3128"}, r"speech_http_proxy"),
    ("proxy with a path", {"speech_http_proxy": "http://proxy.corp:3128/path"}, r"speech_http_proxy"),
    ("proxy credentials without a colon", {"speech_http_proxy": "http://proxy.corp:3128", "speech_http_proxy_creds": "justauser"},
     r"speech_http_proxy_creds"),
    ("no_proxy with a space inside", {"speech_no_proxy": ["billing .corp"]}, r"speech_no_proxy\[0\]"),
    # rollouts, drains and health gates
    ("rollout serial zero", {"speech_rollout_serial": 0}, r"speech_rollout_serial"),
    ("rollout serial over 100 percent", {"speech_rollout_serial": "150%"}, r"speech_rollout_serial"),
    ("rollout serial an empty list", {"speech_rollout_serial": []}, r"speech_rollout_serial"),
    ("rollout serial a boolean", {"speech_rollout_serial": True}, r"speech_rollout_serial"),
    ("drain timeout negative", {"speech_drain_timeout": -5}, r"speech_drain_timeout"),
    ("drain timeout not a number", {"speech_drain_timeout": "ten"}, r"speech_drain_timeout"),
    ("ready timeout negative", {"speech_ready_timeout": -1}, r"speech_ready_timeout"),
    ("smoke not a boolean", {"speech_smoke": "sometimes"}, r"speech_smoke"),
    ("log level with trailing whitespace", {"speech_log_level": "Debug "}, r"speech_log_level"),
    # the load balancers and TLS
    ("load balancer TLS mode unknown", {"loadbalancer_tls": "letsencrypt"}, r"loadbalancer_tls"),
    ("stats port out of range", {"loadbalancer_stats_port": 70000}, r"loadbalancer_stats_port"),
    ("queue timeout not a duration", {"loadbalancer_timeout_queue": "soon"}, r"loadbalancer_timeout_queue"),
    ("queue factor zero", {"loadbalancer_queue_factor": 0}, r"loadbalancer_queue_factor"),
    ("load balancer bind address not an address", {"loadbalancer_bind_address": "0.0.0.0.0"}, r"loadbalancer_bind_address"),
    # disconnected mode
    ("licence expiry not a date", {"speech_disconnected": True, "speech_license_expires_on": "31/12/2027"},
     r"speech_license_expires_on"),
    ("licence renew days negative", {"speech_license_renew_days": -3}, r"speech_license_renew_days"),
    ("licence folder relative", {"speech_license_dir": "licenses"}, r"speech_license_dir"),
    ("disconnected not a boolean", {"speech_disconnected": "maybe"}, r"speech_disconnected"),
    # folders on the hosts
    ("data folder with ..", {"speech_data_dir": "/var/lib/../etc"}, r"speech_data_dir"),
]
CASES += [Case(name, variables, [variable + r"\S* (must be|is required)", r"\b(set|write|add|lower)\b"])
          for name, variables, variable in CONTRACT_CASES]


def test_there_are_at_least_seventy_three_distinct_cases():
    assert len(CASES) >= 73
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def hosts():
    return scenario_hosts()


def test_the_fingerprint_sees_a_change(hosts):
    """A fingerprint that cannot change would pass every case below: touching one file must show."""
    on_host(HOST1, "touch -r /etc/hostname /run/hostname-times")
    before = fingerprint(HOST1)[0]
    try:
        on_host(HOST1, "touch -d @1000000000 /etc/hostname")
        assert fingerprint(HOST1)[0] != before
    finally:
        on_host(HOST1, "touch -r /run/hostname-times /etc/hostname && rm /run/hostname-times")
    assert fingerprint(HOST1)[0] == before


RECAP_CHANGED = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", re.MULTILINE)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_rejected_before_any_host_changes(case, hosts, tmp_path):
    groups = {"speech_lb": {"hosts": {name: hosts[name] for name in case.lb_hosts}}} if case.lb_hosts else None
    inventory = write_inventory(tmp_path / "inventory", {name: hosts[name] for name in case.hosts}, case.host_vars,
                                groups)
    extra_vars = tmp_path / "case.yml"
    extra_vars.write_text(yaml.safe_dump(case.variables))
    touched = case.hosts + case.lb_hosts
    before = {host: fingerprint(host) for host in touched}

    run = playbook(inventory, "site.yml", extra_vars_file=extra_vars if case.variables else None)

    after = {host: fingerprint(host) for host in touched}
    print(f"BAD INPUT [{case.name}] rc={run.rc} in {run.seconds:.1f}s")
    assert run.rc != 0, f"site.yml accepted it:\n{run.tail()}"
    for host in touched:
        assert after[host][0] == before[host][0], f"{host} changed:\n" + "\n".join(
            line for line in set(after[host][1].splitlines()) ^ set(before[host][1].splitlines()))
    assert all(int(found[1]) == 0 for found in RECAP_CHANGED.findall(run.output)), run.tail()
    for pattern in case.expect:
        assert re.search(pattern, run.output), f"no /{pattern}/ in:\n{run.tail()}"
