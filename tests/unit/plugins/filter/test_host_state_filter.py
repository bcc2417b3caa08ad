# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.speechops.speech.plugins.filter.host_state import (
    FilterModule,
    speech_missing_packages,
    speech_registry_ca_files,
    speech_unit_settled,
)

FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"


def read(**speech_host):
    """A registered host_facts result."""
    return {"changed": False, "ansible_facts": {"speech_host": speech_host}}


def test_filters_are_exposed_and_documented():
    for name in FilterModule().filters():
        assert (FILTER_DIR / f"{name}.yml").is_file(), name


@pytest.mark.parametrize("registered", [{}, None, {"skipped": True, "changed": False}, read(), read(packages=None)])
def test_without_a_package_list_every_package_is_missing(registered):
    assert speech_missing_packages(registered, ["docker-ce", "haproxy"]) == ["docker-ce", "haproxy"]


def test_missing_packages_keep_the_wanted_order():
    registered = read(packages={"haproxy": "2.6.12-1", "python3-docker": "5.0.3-1"})
    assert speech_missing_packages(registered, ["socat", "haproxy", "curl", "python3-docker"]) == ["socat", "curl"]
    assert speech_missing_packages(registered, ["haproxy"]) == []


@given(installed=st.sets(st.sampled_from("abcdef")), wanted=st.lists(st.sampled_from("abcdef"), unique=True))
def test_missing_is_exactly_the_wanted_not_installed(installed, wanted):
    missing = speech_missing_packages(read(packages={name: "1.0" for name in installed}), wanted)
    assert set(missing) == set(wanted) - installed
    assert missing == [name for name in wanted if name in missing]


def test_wanted_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match="wanted must be a list"):
        speech_missing_packages(read(packages={}), "haproxy")


@pytest.mark.parametrize("state, settled", [
    ({"active": True, "enabled": True}, True),
    ({"active": True, "enabled": False}, False),
    ({"active": False, "enabled": True}, False),
    ({"active": "true", "enabled": "true"}, False),
    (None, False),
])
def test_a_unit_is_settled_only_when_active_and_enabled(state, settled):
    assert speech_unit_settled(read(units={"docker": state}), "docker") is settled


@pytest.mark.parametrize("registered", [{}, None, {"skipped": True}, read(), read(units=None), read(units={"haproxy": {}})])
def test_a_unit_not_read_is_not_settled(registered):
    assert speech_unit_settled(registered, "docker") is False


def test_registry_cas_become_one_file_each_ending_with_one_newline():
    files = speech_registry_ca_files([{"registry": "mirror.example:5443", "ca": CA + "\n\n"}, {"registry": "r2", "ca": "  " + CA}])
    assert files == [
        {"path": "/etc/docker/certs.d/mirror.example:5443/ca.crt", "content": CA + "\n", "mode": "0644"},
        {"path": "/etc/docker/certs.d/r2/ca.crt", "content": CA + "\n", "mode": "0644"},
    ]
    assert speech_registry_ca_files([]) == [] and speech_registry_ca_files(None) == []
    assert speech_registry_ca_files([{"registry": "r", "ca": CA}], root="/srv/certs", mode="0600")[0]["path"] == "/srv/certs/r/ca.crt"


@pytest.mark.parametrize("entry, message", [
    ({"registry": "mirror/path", "ca": CA}, r"docker_registry_cas\[0\]\.registry"),
    ({"registry": "../etc", "ca": CA}, r"docker_registry_cas\[0\]\.registry"),
    ({"registry": "", "ca": CA}, r"docker_registry_cas\[0\]\.registry"),
    ({"registry": "mirror", "ca": "not a certificate"}, r"docker_registry_cas\[0\]\.ca: set it to the PEM"),
    ({"registry": "mirror"}, r"docker_registry_cas\[0\]\.ca"),
])
def test_a_bad_registry_ca_names_the_entry(entry, message):
    with pytest.raises(AnsibleFilterError, match=message):
        speech_registry_ca_files([entry])
