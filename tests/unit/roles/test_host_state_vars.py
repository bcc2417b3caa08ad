# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the docker, loadbalancer and gstreamer roles make of host_facts' read in this run (speech_host_facts, its
registered result): whether a wanted package is missing (the package task runs) and whether the service's unit is
settled (the service task is skipped), rendered by Ansible's own Templar from the roles' vars/main.yml; and which
registry CA entries the docker role's tasks/validate.yml refuses. (The CA files themselves: test_docker_config.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible._internal._datatag._tags import TrustedAsTemplate
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from hypothesis import given
from hypothesis import strategies as st

ROLES = Path(__file__).resolve().parents[3] / "roles"
LOADER = DataLoader()
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"

# role -> (its wanted packages variable, its "a package is missing" variable, its "the unit is settled" variable)
PACKAGES = {
    "docker": ("__docker_wanted_packages", "__docker_packages_missing"),
    "loadbalancer": ("__loadbalancer_packages", "__loadbalancer_packages_missing"),
    "gstreamer": ("__gstreamer_wanted_packages", "__gstreamer_packages_missing"),
}
UNITS = {"docker": ("__docker_running_as_wanted", "docker"), "loadbalancer": ("__loadbalancer_running_as_wanted", "haproxy")}


def role_variables(role):
    variables = {}
    for name in ("defaults", "vars"):
        variables.update(LOADER.load_from_file(str(ROLES / role / name / "main.yml"), trusted_as_template=True) or {})
    return variables


VARIABLES = {role: role_variables(role) for role in ("docker", "loadbalancer", "gstreamer")}


def render(role, name, **extra):
    """The role's variable `name` as Ansible templates it, with extra (speech_host_facts absent when None)."""
    variables = dict(VARIABLES[role])
    # the install task did not change anything in this run
    variables.update({"__docker_install": {"changed": False}, "__loadbalancer_install": {"changed": False}})
    variables.update((key, value) for key, value in extra.items() if value is not None)
    return Templar(loader=LOADER, variables=variables).template(TrustedAsTemplate().tag("{{ %s }}" % name))


def read(**speech_host):
    """A registered host_facts result."""
    return {"changed": False, "ansible_facts": {"speech_host": speech_host}}


def missing(role, registered, wanted):
    wanted_name, missing_name = PACKAGES[role]
    return render(role, missing_name, speech_host_facts=registered, **{wanted_name: wanted})


@pytest.mark.parametrize("role", PACKAGES)
@pytest.mark.parametrize("registered", [{}, None, {"skipped": True, "changed": False}, read(), read(packages=None)])
def test_without_a_package_list_every_package_is_missing(role, registered):
    assert missing(role, registered, ["docker-ce", "haproxy"]) is True


@pytest.mark.parametrize("role", PACKAGES)
def test_a_package_is_missing_unless_the_read_lists_it(role):
    registered = read(packages={"haproxy": "2.6.12-1", "python3-docker": "5.0.3-1"})
    assert missing(role, registered, ["socat", "haproxy", "curl", "python3-docker"]) is True
    assert missing(role, registered, ["haproxy"]) is False
    assert missing(role, registered, ["python3-docker", "haproxy"]) is False
    assert missing(role, None, []) is False


@pytest.mark.parametrize("role", PACKAGES)
@given(installed=st.sets(st.sampled_from("abcdef")), wanted=st.lists(st.sampled_from("abcdef"), unique=True))
def test_missing_is_exactly_some_wanted_not_installed(role, installed, wanted):
    assert missing(role, read(packages={name: "1.0" for name in installed}), wanted) is bool(set(wanted) - installed)


def running_as_wanted(role, registered):
    name, unit = UNITS[role]
    return render(role, name, speech_host_facts=registered, loadbalancer_service_name=unit)


@pytest.mark.parametrize("role", UNITS)
@pytest.mark.parametrize("state, settled", [
    ({"active": True, "enabled": True}, True),
    ({"active": True, "enabled": False}, False),
    ({"active": False, "enabled": True}, False),
    ({"active": "true", "enabled": "true"}, False),
    (None, False),
])
def test_a_unit_is_settled_only_when_active_and_enabled(role, state, settled):
    assert running_as_wanted(role, read(units={UNITS[role][1]: state})) is settled


@pytest.mark.parametrize("role", UNITS)
@pytest.mark.parametrize("registered", [{}, None, {"skipped": True}, read(), read(units=None), read(units={"other": {}})])
def test_a_unit_not_read_is_not_settled(role, registered):
    assert running_as_wanted(role, registered) is False


def test_the_docker_unit_must_also_be_wanted_started_and_enabled():
    settled = read(units={"docker": {"active": True, "enabled": True}})
    assert render("docker", "__docker_running_as_wanted", speech_host_facts=settled, docker_service_state="stopped") is False
    assert render("docker", "__docker_running_as_wanted", speech_host_facts=settled, docker_service_enabled=False) is False
    assert render("docker", "__docker_running_as_wanted", speech_host_facts=settled, __docker_install={"changed": True}) is False


# --- the registry CA entries tasks/validate.yml refuses -------------------------------------------------------------

def registry_checks():
    tasks = LOADER.load_from_file(str(ROLES / "docker" / "tasks" / "validate.yml"), trusted_as_template=True)
    return [task for task in tasks if task["name"].startswith("Check the registry")]


def refusals(entry):
    """The fail_msg of each registry check the entry fails, as the assert module evaluates its conditions."""
    refused = []
    for task in registry_checks():
        check = task["ansible.builtin.assert"]
        templar = Templar(loader=LOADER, variables=dict(task.get("vars") or {}, item=entry))
        if not all(templar.template(TrustedAsTemplate().tag("{{ %s }}" % condition)) for condition in check["that"]):
            refused.append(templar.template(check["fail_msg"]))
    return refused


@pytest.mark.parametrize("entry", [{"registry": "mirror.example:5443", "ca": CA + "\n\n"}, {"registry": "r2", "ca": "  " + CA},
                                   {"registry": "registry-1.example.internal", "ca": CA}])
def test_a_good_registry_ca_passes(entry):
    assert refusals(entry) == []


@pytest.mark.parametrize("entry, message", [
    ({"registry": "mirror/path", "ca": CA}, "docker_registry_cas: registry 'mirror/path' must be host[:port]"),
    ({"registry": "../etc", "ca": CA}, "docker_registry_cas: registry '../etc' must be host[:port]"),
    ({"registry": "..", "ca": CA}, "docker_registry_cas: registry '..' must be host[:port]"),
    ({"registry": ".hidden", "ca": CA}, "docker_registry_cas: registry '.hidden' must be host[:port]"),
    ({"registry": "", "ca": CA}, "docker_registry_cas: registry '' must be host[:port]"),
    ({"registry": "mirror", "ca": "not a certificate"}, "docker_registry_cas: ca of mirror: set it to the PEM certificate of mirror's CA"),
])
def test_a_bad_registry_ca_names_the_entry(entry, message):
    [refusal] = refusals(entry)
    assert refusal.startswith(message)
