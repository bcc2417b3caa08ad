# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may use each load-balancer frontend (module_utils/lb_access.py, the filters speech_lb_access and
speech_lb_access_files): modes, sources and clients per service, the map files (hashes, never a key), every refusal
naming the variable and the fix, the warnings naming the risk."""
from __future__ import annotations

import hashlib
import re

import pytest

from ansible_collections.speechops.speech.plugins.filter.lb_access import speech_lb_access, speech_lb_access_files
from ansible_collections.speechops.speech.plugins.module_utils import contract, lb_access

SERVICES = {"stt-en-us": {"lb_port": 8000}, "tts-aria": {"lb_port": 8001}, "lid": {"lb_port": 8002}}
APP_KEY = "app-key-0123456789abcdef0123456789"
TTS_KEY = "tts-key-fedcba9876543210fedcba98"
CLIENTS = [{"name": "app", "key": APP_KEY}, {"name": "tts-only", "key": TTS_KEY, "services": ["tts-aria"]}]
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
MAP_DIR = "/etc/haproxy/speechops"
CA_FILE = "/etc/haproxy/certs/client-ca.pem"


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def access(**settings):
    return speech_lb_access(SERVICES, **settings)


def every_text(result):
    return "\n".join([result["text"]] + result["errors"] + result["warnings"]) + repr(result["services"])


# --- each service's mode, sources and clients -----------------------------------------------------------------------

def test_by_default_every_service_takes_keys_and_every_client_without_services_opens_all():
    result = access(client_keys=CLIENTS, tls="selfsigned")
    assert result["ok"] and result["warnings"] == [], result["text"]
    assert {name: service["mode"] for name, service in result["services"].items()} == dict.fromkeys(SERVICES, "keys")
    assert result["services"]["stt-en-us"]["clients"] == [{"name": "app", "key_sha256": sha(APP_KEY)}]
    assert result["services"]["tts-aria"]["clients"] == [{"name": "app", "key_sha256": sha(APP_KEY)},
                                                         {"name": "tts-only", "key_sha256": sha(TTS_KEY)}]
    assert all(service["allow_from"] == [] for service in result["services"].values())


def test_a_service_entry_wins_over_the_fleet_for_mode_and_sources():
    result = access(auth="none", auth_by_service={"stt-en-us": "keys", "tts-aria": "mtls"}, client_keys=CLIENTS,
                    client_ca=CA, allow_from=["10.20.0.0/16"], allow_from_by_service={"lid": []}, tls="provided")
    assert result["ok"], result["text"]
    services = result["services"]
    assert [services[name]["mode"] for name in ("stt-en-us", "tts-aria", "lid")] == ["keys", "mtls", "none"]
    assert [services[name]["allow_from"] for name in ("stt-en-us", "tts-aria", "lid")] == [["10.20.0.0/16"]] * 2 + [[]]
    assert services["tts-aria"]["clients"] == [] and services["lid"]["clients"] == []
    assert result["client_ca"] == CA and result["client_ca_sha256"] == sha(CA)


def test_the_hash_is_what_haproxy_computes_from_the_header():
    # req.fhdr(Ocp-Apim-Subscription-Key),sha2(256),hex,lower
    assert lb_access.key_sha256(APP_KEY) == hashlib.sha256(APP_KEY.encode("utf-8")).hexdigest().lower()


# --- the files: hashes and names, never a key ------------------------------------------------------------------------

def test_the_map_files_hold_hashes_and_names_and_no_key():
    files = speech_lb_access_files(access(client_keys=CLIENTS, tls="selfsigned"), MAP_DIR, CA_FILE)
    maps = dict((entry["path"], entry) for entry in files["files"])
    assert sorted(maps) == [MAP_DIR + "/client-keys-%s.map" % name for name in ("lid", "stt-en-us", "tts-aria")]
    tts = maps[MAP_DIR + "/client-keys-tts-aria.map"]
    lines = tts["content"].splitlines()
    assert all(line.startswith("# ") for line in lines[:2])
    assert lines[2:] == ["%s app" % sha(APP_KEY), "%s tts-only" % sha(TTS_KEY)]
    assert tts["content"].endswith("\n")
    assert (tts["owner"], tts["group"], tts["mode"], tts["diff"]) == ("root", "haproxy", "0640", False)
    for entry in files["files"]:
        assert APP_KEY not in entry["content"] and TTS_KEY not in entry["content"]
        assert APP_KEY[:16] not in entry["content"]
    assert files["directories"] == [{"path": MAP_DIR, "owner": "root", "group": "haproxy", "mode": "0750"}]
    assert files["absent"] == [CA_FILE]
    assert [entry["path"] for entry in files["maps"]] == sorted(maps)
    assert APP_KEY not in repr(files) and TTS_KEY not in repr(files)


def test_services_without_keys_lose_their_maps_and_the_ca_is_written_only_for_mtls():
    files = speech_lb_access_files(access(auth="mtls", auth_by_service={"lid": "keys"}, client_keys=CLIENTS,
                                          client_ca=CA.strip(), tls="selfsigned"), MAP_DIR, CA_FILE)
    assert [entry["path"] for entry in files["files"]] == [MAP_DIR + "/client-keys-lid.map", CA_FILE]
    assert files["files"][1]["content"] == CA and files["files"][1]["mode"] == "0644"
    assert files["absent"] == [MAP_DIR + "/client-keys-stt-en-us.map", MAP_DIR + "/client-keys-tts-aria.map"]
    none = speech_lb_access_files(access(auth="none"), MAP_DIR, CA_FILE)
    assert none["files"] == [] and none["directories"] == [] and none["maps"] == []
    assert none["absent"] == [MAP_DIR + "/client-keys-%s.map" % name for name in ("lid", "stt-en-us", "tts-aria")] + [CA_FILE]


def test_the_files_filter_takes_only_a_plan_without_errors():
    with pytest.raises(Exception, match="without errors"):
        speech_lb_access_files(access(), MAP_DIR, CA_FILE)


# --- refusals: each names the variable and the fix; no key in any ---------------------------------------------------

@pytest.mark.parametrize("settings, words", [
    ({}, ["stt-en-us (port 8000) takes client keys (speech_lb_auth: keys) but speech_lb_client_keys opens it to no client",
          "add a client to speech_lb_client_keys"]),
    ({"client_keys": [{"name": "tts", "key": TTS_KEY, "services": ["tts-aria"]}], "auth_by_service": {"lid": "none"}},
     ["stt-en-us (port 8000) takes client keys (speech_lb_auth: keys)"]),
    ({"auth": "key"}, ["speech_lb_auth must be one of keys, mtls, none, got 'key'", "set speech_lb_auth to keys"]),
    ({"auth_by_service": {"stt": "none"}, "client_keys": CLIENTS},
     ["speech_lb_auth_by_service names stt, which the plan does not have (its services: lid, stt-en-us, tts-aria)"]),
    ({"allow_from_by_service": {"tts": ["10.0.0.0/8"]}, "client_keys": CLIENTS},
     ["speech_lb_allow_from_by_service names tts, which the plan does not have"]),
    ({"client_keys": [{"name": "app", "key": APP_KEY, "services": ["tts"]}]},
     ["speech_lb_client_keys[0].services names tts, which the plan does not have"]),
    ({"client_keys": [{"name": "app", "key": "short-key"}]},
     ["speech_lb_client_keys[0].key must be 16 to 1024 characters", "got a 9-character string", "openssl rand -hex 32"]),
    ({"client_keys": [{"name": "app", "key": APP_KEY}, {"name": "app", "key": TTS_KEY}]},
     ["speech_lb_client_keys[1].name 'app' is also the name of speech_lb_client_keys[0]", "a new name, e.g. app-2"]),
    ({"client_keys": [{"name": "app", "key": APP_KEY}, {"name": "app-2", "key": APP_KEY}]},
     ["speech_lb_client_keys[1].key is the key of speech_lb_client_keys[0] as well", "a new random key"]),
    ({"client_keys": [APP_KEY]}, ["speech_lb_client_keys[0] must be a mapping {name, key, services (optional)}, got a "
                                  "34-character string"]),
    ({"client_keys": APP_KEY}, ["speech_lb_client_keys must be a list of {name, key, services", "got a 34-character string"]),
    ({"client_keys": [{"name": "app", "key": APP_KEY, "secret": 1}]}, ["speech_lb_client_keys[0] has unknown key(s) 'secret'"]),
    ({"client_keys": [{"name": "my app", "key": APP_KEY}]}, ["speech_lb_client_keys[0].name must be a client name"]),
    ({"client_keys": [{"name": "app", "key": APP_KEY + " "}]}, ["whitespace or a control character"]),
    ({"allow_from": ["10.20.0.1/16"]}, ["speech_lb_allow_from[0] must be a network in CIDR form, address/prefix with no "
                                        "host bits", "set speech_lb_allow_from[0] to a network such as 10.20.0.0/16"]),
    ({"allow_from": ["10.20.0.0"]}, ["speech_lb_allow_from[0] must be a network in CIDR form"]),
    ({"allow_from": ["10.0.0.0/8", "10.0.0.0/8"]}, ["speech_lb_allow_from[1] '10.0.0.0/8' is listed twice"]),
    ({"allow_from_by_service": {"lid": ["lan"]}}, ["speech_lb_allow_from_by_service.lid[0] must be a network"]),
    ({"auth": "mtls", "client_ca": CA}, ["takes client certificates (speech_lb_auth: mtls), which needs TLS on the load "
                                         "balancer, and loadbalancer_tls is none", "set loadbalancer_tls to selfsigned"]),
    ({"auth": "mtls", "tls": "selfsigned"}, ["speech_lb_client_ca is empty: set it to the PEM of the CA"]),
    ({"auth": "mtls", "tls": "selfsigned", "client_ca": "ca"}, ["speech_lb_client_ca must be empty, or PEM text"]),
    ({"auth": "mtls", "tls": "selfsigned", "client_ca": CA + "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"},
     ["(it holds a private key, which must never leave the CA)"]),
])
def test_each_bad_setting_is_refused_naming_the_variable_and_the_fix(settings, words):
    result = access(**settings)
    assert not result["ok"]
    text = result["text"]
    assert text.startswith("client access: FAILED")
    for word in words:
        assert word in text, text
    assert APP_KEY not in every_text(result) and TTS_KEY not in every_text(result)
    assert APP_KEY[:12] not in every_text(result)


def test_a_client_key_pasted_into_another_setting_is_never_shown():
    result = access(client_keys=CLIENTS, client_ca=APP_KEY, tls="selfsigned")
    assert not result["ok"] and "speech_lb_client_ca" in result["text"]
    assert APP_KEY not in every_text(result) and "<redacted>" in result["text"]


# --- warnings: explicit none, keys in clear -----------------------------------------------------------------------

def test_none_is_accepted_as_an_explicit_choice_with_a_warning_naming_the_risk():
    result = access(auth="none")
    assert result["ok"] and len(result["warnings"]) == 3
    assert result["text"].startswith("client access: OK with 3 warnings")
    assert ("WARNING: stt-en-us (port 8000) authenticates no client (speech_lb_auth: none): anyone who reaches it runs "
            "requests billed to the Speech resource") in result["warnings"][1]
    limited = access(auth="keys", auth_by_service={"lid": "none"}, client_keys=CLIENTS, tls="selfsigned",
                     allow_from_by_service={"lid": ["10.20.0.0/16"]})
    assert limited["ok"] and limited["warnings"] == [
        "WARNING: lid (port 8002) authenticates no client (speech_lb_auth_by_service.lid: none): anyone who reaches it "
        "from 10.20.0.0/16 runs requests billed to the Speech resource. Keep it only on a network you trust, or choose "
        "keys or mtls"]


def test_keys_over_plain_http_are_accepted_with_a_warning():
    result = access(client_keys=CLIENTS)
    assert result["ok"] and len(result["warnings"]) == 3
    assert all("takes client keys over plain HTTP (loadbalancer_tls: none)" in warning for warning in result["warnings"])


# --- vaulted values -------------------------------------------------------------------------------------------------

class EncryptedString(str):
    """Stands in for ansible-core's vaulted string, which decrypts on str()."""

    def __str__(self):
        return "vault-decrypted-key-0123456789"


def test_vaulted_keys_are_decrypted_before_they_are_hashed():
    result = access(client_keys=[{"name": "app", "key": EncryptedString("$ANSIBLE_VAULT;1.1;AES256...")}], tls="provided")
    assert result["ok"], result["text"]
    assert result["services"]["lid"]["clients"][0]["key_sha256"] == sha("vault-decrypted-key-0123456789")


# --- the contract knows every setting and treats the keys as secrets ------------------------------------------------

def test_every_setting_has_a_rule_and_the_client_keys_are_secret():
    assert set(lb_access.SETTINGS) <= set(contract.RULES)
    assert "speech_lb_client_keys" in contract.SECRET_VARIABLES
    assert contract.secrets_of({"speech_lb_client_keys": CLIENTS + [APP_KEY[::-1]]}) == [APP_KEY, TTS_KEY, APP_KEY[::-1]]
    report = contract.check_hosts({"lb1": {"speech_lb_client_keys": CLIENTS, "speech_lb_address": APP_KEY + " x"}})
    assert APP_KEY not in report["text"] and re.search(r"speech_lb_address must be .*<redacted>", report["text"])
