# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inventories/example: it parses, its vault opens with its password, and the collection's own checks accept it.

The inventory is read the way an operator reads it (ansible-inventory with the repository's ansible.cfg and
inventories/example.vault-password); its fleet inputs go through the preflight role's pure checks, and its
speech_services through the planner and the per-host preflight on fake hosts sized like the hardware the
example is written for (HOST_FACTS below).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.parsing.vault import AnsibleVaultError, VaultLib, VaultSecret

from ansible_collections.speechops.speech.plugins.filter.lb_access import speech_lb_access
from ansible_collections.speechops.speech.plugins.filter.plan import plan as plan_filter
from ansible_collections.speechops.speech.plugins.filter.preflight import speech_fleet_check, speech_preflight
from ansible_collections.speechops.speech.plugins.module_utils import catalog

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "example"
PASSWORD_FILE = REPO / "inventories" / "example.vault-password"
BIN_DIR = Path(sys.executable).parent
SPEECH_HOSTS = ["speech-01.example.internal", "speech-02.example.internal", "speech-03.example.internal"]
LB_HOSTS = ["lb-01.example.internal"]
DOCUMENTATION_NET = ipaddress.ip_network("192.0.2.0/24")  # RFC 5737
VAULTED = ("speech_api_key", "speech_api_key_secondary", "vault_registry_password")
AZURE_KEY = re.compile(r"^[0-9a-f]{32}$")
EXPECTED_SERVICES = {"stt-en-us": "speech-to-text", "tts-aria": "neural-text-to-speech", "lid": "language-detection"}

# The hardware the example is sized for (hosts.yml, services.yml): x86_64 with AVX2, 32 vCPUs at 2.9 GHz,
# 64 GiB of memory (64,000 MB usable after the kernel's share), 100 GB free for Docker's images.
HOST_FACTS = {
    "architecture": "x86_64",
    "avx2": True,
    "vcpus_usable": 32.0,
    "vcpus_online": 32,
    "memory_usable_mb": 64000,
    "clock_mhz": 2900,
    "clock_source": "cpufreq",
    "docker_data_root": "/var/lib/docker",
    "disk_free_mb": 100 * 1024,
    "containers": [],
    "ports_in_use": [22],
}


def ansible_env():
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def run_ansible(tool, *args):
    executable = BIN_DIR / tool
    if not executable.exists():
        pytest.skip("{0} is not installed next to this Python".format(tool))
    return subprocess.run([str(executable), *args], env=ansible_env(), cwd=str(REPO), capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.fixture(scope="module", name="inventory")
def inventory_fixture():
    result = run_ansible("ansible-inventory", "-i", str(INVENTORY), "--vault-password-file", str(PASSWORD_FILE), "--list")
    assert result.returncode == 0, result.stdout + result.stderr
    # e.g. "Unable to parse ... as an inventory source": a file in the inventory directory that is no inventory
    problems = [line for line in result.stderr.splitlines() if "[WARNING]" in line and ("inventory" in line or "parse" in line)]
    assert problems == [], result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", name="hostvars")
def hostvars_fixture(inventory):
    return inventory["_meta"]["hostvars"]


@pytest.fixture(scope="module", name="fleet")
def fleet_fixture(hostvars):
    """The fleet-wide variables (group_vars/all), as the first speech host sees them."""
    return hostvars[SPEECH_HOSTS[0]]


def vault():
    return VaultLib([("default", VaultSecret(PASSWORD_FILE.read_text().strip().encode("utf-8")))])


def decrypt(value, vault_lib=None):
    assert isinstance(value, dict) and set(value) == {"__ansible_vault"}, "not a vaulted value: {0!r}".format(type(value))
    return (vault_lib or vault()).decrypt(value["__ansible_vault"]).decode("utf-8")


# --- groups and hosts -----------------------------------------------------------------------------

def test_groups_hold_the_documented_hosts(inventory):
    assert sorted(inventory["speech_hosts"]["hosts"]) == SPEECH_HOSTS
    assert sorted(inventory["speech_lb"]["hosts"]) == LB_HOSTS
    assert sorted(inventory["speech_fleet"]["children"]) == ["speech_hosts", "speech_lb"]
    # a stray file in the inventory directory (say, a vault password) would show up as an ungrouped host
    assert sorted(inventory["_meta"]["hostvars"]) == sorted(SPEECH_HOSTS + LB_HOSTS)
    assert not inventory.get("ungrouped", {}).get("hosts")


def test_hosts_have_documentation_addresses_and_ssh_settings(hostvars):
    addresses = [hostvars[host]["ansible_host"] for host in SPEECH_HOSTS + LB_HOSTS]
    assert all(ipaddress.ip_address(address) in DOCUMENTATION_NET for address in addresses)
    assert len(set(addresses)) == len(addresses)
    for host in SPEECH_HOSTS + LB_HOSTS:
        assert hostvars[host]["ansible_user"] and hostvars[host]["ansible_become"] is True


def test_every_speech_host_is_in_its_own_fault_domain(hostvars):
    domains = [hostvars[host].get("speech_fault_domain") for host in SPEECH_HOSTS]
    assert all(domains) and len(set(domains)) == len(SPEECH_HOSTS)


def test_nothing_else_is_parsed_as_inventory():
    """Every file in an inventory directory is inventory (but for ignored extensions such as .md): the vault password stays outside."""
    files = sorted(str(path.relative_to(INVENTORY)) for path in INVENTORY.rglob("*") if path.is_file() and path.suffix != ".md")
    assert files == ["group_vars/all/main.yml", "group_vars/all/services.yml", "group_vars/all/vault.yml", "hosts.yml"]
    assert PASSWORD_FILE.parent == INVENTORY.parent


# --- the vault ------------------------------------------------------------------------------------

def test_vaulted_values_decrypt_with_the_example_password(fleet):
    plain = dict((name, decrypt(fleet[name])) for name in VAULTED)
    assert AZURE_KEY.match(plain["speech_api_key"]) and AZURE_KEY.match(plain["speech_api_key_secondary"])
    assert plain["speech_api_key"] != plain["speech_api_key_secondary"]
    assert "example" in plain["vault_registry_password"]


def test_the_vault_does_not_open_with_another_password(fleet):
    wrong = VaultLib([("default", VaultSecret(b"not-the-example-password"))])
    with pytest.raises(AnsibleVaultError):
        decrypt(fleet["speech_api_key"], wrong)


def test_the_vault_comment_gives_the_commands_that_made_it():
    text = (INVENTORY / "group_vars" / "all" / "vault.yml").read_text()
    for name in VAULTED:
        assert "--name {0} '".format(name) in text
    assert "ansible-vault encrypt_string --vault-password-file inventories/example.vault-password" in text


# --- the fleet inputs pass the preflight role's checks --------------------------------------------

@pytest.mark.parametrize("key_name", ["speech_api_key", "speech_api_key_secondary"])
def test_fleet_inputs_pass_the_preflight_check(fleet, key_name):
    report = speech_fleet_check(fleet["speech_eula"], fleet["speech_billing_endpoint"], decrypt(fleet[key_name]),
                                allow_http_billing=fleet.get("speech_allow_http_billing", False))
    assert report["ok"], report["text"]
    assert report["warnings"] == [], report["text"]
    assert fleet["speech_billing_endpoint"].startswith("https://")


def test_the_preflight_check_would_catch_a_broken_input(fleet):
    """The check above can fail: the same inputs with a placeholder key or a truncated key do."""
    for bad_key in ("<your-speech-key>", decrypt(fleet["speech_api_key"])[:8]):
        report = speech_fleet_check(fleet["speech_eula"], fleet["speech_billing_endpoint"], bad_key)
        assert not report["ok"] and report["failures"][0]["check"] == "api_key"


def test_ansible_itself_decrypts_the_vault_and_the_filter_accepts_it(tmp_path):
    """End to end: ansible-playbook with the password file templates the !vault values into the collection's filter."""
    play = tmp_path / "check.yml"
    play.write_text("""---
- name: Check the example's fleet inputs as the preflight role does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The fleet inputs pass, with either key
      ansible.builtin.assert:
        that:
          - (speech_eula | speechops.speech.speech_fleet_check(speech_billing_endpoint, speech_api_key)).ok
          - (speech_eula | speechops.speech.speech_fleet_check(speech_billing_endpoint, speech_api_key_secondary)).ok
          - speech_api_key != speech_api_key_secondary
        quiet: true
""")
    result = run_ansible("ansible-playbook", "-i", str(INVENTORY), "--vault-password-file", str(PASSWORD_FILE), str(play))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ok=1" in output and "failed=0" in output


def test_site_yml_passes_the_syntax_check_with_the_example():
    result = run_ansible("ansible-playbook", "-i", str(INVENTORY), "--vault-password-file", str(PASSWORD_FILE), "site.yml",
                         "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


# --- the services plan onto the intended hardware -------------------------------------------------

def plan_for(fleet, hostvars, hosts):
    """speech_services placed exactly as playbooks/tasks/plan.yml does, on hosts that report HOST_FACTS."""
    with_facts = dict((host, dict(hostvars[host], speech_host=dict(HOST_FACTS))) for host in hosts)
    return plan_filter(fleet["speech_services"], hosts, hostvars=with_facts,
                       port_base=fleet.get("speech_port_base"), port_max=fleet.get("speech_port_max"),
                       strategy=fleet.get("speech_placement_strategy"), rebalance=fleet.get("speech_rebalance"),
                       max_moves=fleet.get("speech_max_moves"), registry=fleet.get("speech_registry"),
                       profile=fleet.get("speech_sizing_profile"), allow_unknown_tags=fleet.get("speech_allow_unknown_tags"),
                       lb_port_base=fleet.get("speech_lb_port_base"), model_memory=fleet.get("speech_model_memory"))


def test_services_are_the_documented_ones_with_microsoft_sizes(fleet):
    services = dict((service["name"], service) for service in fleet["speech_services"])
    assert dict((name, service["kind"]) for name, service in services.items()) == EXPECTED_SERVICES
    for service in services.values():
        recommended = catalog.resources(service["kind"], catalog.RECOMMENDED)
        assert service["cpus"] == recommended["cpus"]
        assert service["memory_mb"] == recommended["memory_mb"]  # the Docker limit; the model memory counts beside it
    assert fleet.get("speech_size_policy", "fail") == "fail" and not fleet.get("speech_allow_unknown_tags", False)


def test_services_plan_cleanly_onto_the_three_hosts(fleet, hostvars):
    plan = plan_for(fleet, hostvars, SPEECH_HOSTS)
    assert plan["summary"]["overcommitted_hosts"] == []
    assert plan["summary"]["containers"] == sum(service["replicas"] for service in fleet["speech_services"])
    for host in SPEECH_HOSTS:
        ports = [container["host_port"] for container in plan["hosts"][host]["containers"]]
        assert len(ports) == len(set(ports)), "host {0} got a port twice: {1}".format(host, ports)
        assert all(fleet["speech_port_base"] <= port <= fleet["speech_port_max"] for port in ports)
        assert HOST_FACTS["ports_in_use"][0] not in ports
    for name, service in plan["services"].items():
        backends = [backend["host"] for backend in service["backends"]]
        assert len(backends) == service["replicas"] and len(set(backends)) == len(backends), name  # spread
        assert service["image"].startswith("mcr.microsoft.com/azure-cognitive-services/speechservices/")
    lb_ports = [service["lb_port"] for service in plan["services"].values()]
    assert sorted(lb_ports) == [8000, 8001, 8002]


def test_every_host_passes_preflight_against_its_share(fleet, hostvars):
    plan = plan_for(fleet, hostvars, SPEECH_HOSTS)
    for host in SPEECH_HOSTS:
        report = speech_preflight(dict(HOST_FACTS), plan["hosts"][host], host=host,
                                  reserved_cpus=fleet["speech_reserved_cpus"], reserved_memory_mb=fleet["speech_reserved_memory_mb"],
                                  clock_policy=fleet["speech_clock_policy"], size_policy=fleet["speech_size_policy"])
        assert report["ok"], report["text"]
        assert report["warnings"] == [], report["text"]


def test_the_services_still_fit_while_one_host_is_out(fleet, hostvars):
    """services.yml says so: any two of the three hosts carry every replica."""
    for missing in SPEECH_HOSTS:
        plan = plan_for(fleet, hostvars, [host for host in SPEECH_HOSTS if host != missing])
        assert plan["summary"]["overcommitted_hosts"] == []
        assert plan["summary"]["containers"] == sum(service["replicas"] for service in fleet["speech_services"])


def test_the_load_balancer_accepts_the_vaulted_client_key_on_every_service_over_tls(fleet, hostvars):
    lb = hostvars[LB_HOSTS[0]]
    clients = [dict(client, key=decrypt(client["key"])) for client in lb["speech_lb_client_keys"]]
    assert all(len(client["key"]) >= 16 for client in clients)
    plan = plan_for(fleet, hostvars, SPEECH_HOSTS)
    access = speech_lb_access(plan["services"], auth=lb.get("speech_lb_auth"), client_keys=clients,
                              allow_from=lb.get("speech_lb_allow_from"), tls=lb.get("loadbalancer_tls"))
    assert access["ok"] and access["warnings"] == [], access["text"]
    assert {name: service["mode"] for name, service in access["services"].items()} == dict.fromkeys(EXPECTED_SERVICES, "keys")
    assert all([client["name"] for client in service["clients"]] == ["contoso-app"] for service in access["services"].values())
