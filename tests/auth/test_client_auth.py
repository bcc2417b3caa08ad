# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client authentication at the load balancer, end to end (Molecule scenario `auth`: one speech host, one load
balancer with a self-signed certificate; stt-en-us and tts-aria take client keys, tts-mtls client certificates).

What converge.yml made is read from the ephemeral directory, as an operator's vault would hold it: client-keys.json
(sdk-app opens every service that takes keys, rest-app tts-aria only), the client CA, and a client certificate
(CN mtls-client) with its key. The clients are REST (urllib, http.client) and Microsoft's real Speech SDK: the SDK sends
SpeechConfig(host=..., subscription=key) in the Ocp-Apim-Subscription-Key header of its WebSocket upgrade, and an
authorization_token as Authorization: Bearer. It trusts the load balancer's certificate through its
OPENSSL_SINGLE_TRUSTED_CERT property, and has no documented way to present a client certificate, so mTLS is served to
REST clients here and the SDK is shown refused without one.

Each case prints its row of the client authentication table (AUTH lines, docs/operations.md), written at the end to
the scenario's artifacts as auth-table.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as random_secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import azure.cognitiveservices.speech as sdk
import pytest
import yaml

os.environ.setdefault("FLEET_LOG_FOLDER", "auth")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadgen"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))

from fleet import PROJECT, Fleet, env, on_host  # noqa: E402
from sdk_load import WEATHER, ClientKey, SdkLoad, Workload, synthesize_wav  # noqa: E402

HOST = "speechops-molau-host1"
LB = "speechops-molau-lb1"
VOICE = "en-US-AriaNeural"
SELFSIGNED = "/etc/haproxy/certs/selfsigned/10-certificate.pem"
MAP_DIR = "/etc/haproxy/speechops"
STATE_HELPER = ("python3", "/usr/local/lib/speechops/haproxy_state.py", "cmd", "--socket", "/run/haproxy/admin.sock")
SEARCHED_TREES = ["/etc", "/root", "/home", "/tmp", "/var", "/run", "/opt", "/srv", "/usr/local"]
WRONG_KEY = "wrong-key-" + "0" * 30
TABLE = []


# ----- the scenario ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts, hosts=[HOST], lb=LB)
    run = fleet.playbook("playbooks/plan.yml")  # writes the plan the tests read
    assert run.rc == 0, run.tail()
    yield fleet
    (artifacts / "auth-table.json").write_text(json.dumps(TABLE, indent=1))
    rows = ["| client | credential | path | expected | seen |", "| --- | --- | --- | --- | --- |"]
    rows += ["| %(client)s | %(credential)s | %(path)s | %(expected)s | %(seen)s |" % entry for entry in TABLE]
    # the table of docs/operations.md, as this run saw it (kept with the run's other reports)
    (PROJECT / "tests" / "output").mkdir(parents=True, exist_ok=True)
    (PROJECT / "tests" / "output" / "auth-table.md").write_text("\n".join(rows) + "\n")
    for row in rows:
        print("AUTH " + row)


@pytest.fixture(scope="module")
def auth_dir():
    return Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "auth"


@pytest.fixture(scope="module")
def client_keys(auth_dir):
    """speech_lb_client_keys as client-keys.json (the vault's stand-in) holds it."""
    return json.loads((auth_dir / "client-keys.json").read_text())


@pytest.fixture(scope="module")
def keys(client_keys):
    """{client name: key}."""
    return {client["name"]: client["key"] for client in client_keys}


@pytest.fixture(scope="module")
def server_pem(fleet):
    return on_host(LB, "cat", SELFSIGNED)


def url(fleet, service, scheme):
    return f"{scheme}://{fleet.lb_address}:{fleet.plan()['services'][service]['lb_port']}"


def record(client, credential, path, expected, seen):
    TABLE.append({"client": client, "credential": credential, "path": path, "expected": expected, "seen": seen})
    print("AUTH | %s | %s | %s | %s | %s |" % (client, credential, path, expected, seen))


def said(run, text):
    """Whether the run's output holds the text, however the callback wrapped its lines."""
    return " ".join(text.split()) in " ".join(run.output.split())


def extra_vars(tmp_path, name, variables):
    """A 0600 extra-vars file (it may hold keys), as a vaulted inventory would give them."""
    path = tmp_path / name
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(variables))
    return str(path)


# ----- clients -----------------------------------------------------------------------------------------------------

def rest(fleet, server_pem, service="tts-aria", headers=None, certificate=None):
    """(status or refusal, headers, body) of one synthesis over REST through the load balancer."""
    context = ssl.create_default_context(cadata=server_pem)
    if certificate is not None:
        context.load_cert_chain(*certificate)
    ssml = f"<speak version='1.0' xml:lang='en-US'><voice name='{VOICE}'>{WEATHER}</voice></speak>".encode()
    request = urllib.request.Request(url(fleet, service, "https") + "/cognitiveservices/v1", data=ssml, headers=dict(
        {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}, **(headers or {})))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, lowercase(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, lowercase(error.headers), error.read()
    except (urllib.error.URLError, ssl.SSLError, ConnectionResetError) as error:
        return "refused in the TLS handshake (%s)" % getattr(error, "reason", error), {}, b""


def lowercase(headers):
    return dict((name.lower(), value) for name, value in headers.items())


def speech_config(fleet, service, scheme, server_pem, key=None, bearer=False):
    config = sdk.SpeechConfig(host=url(fleet, service, scheme), subscription=key) if key and not bearer \
        else sdk.SpeechConfig(host=url(fleet, service, scheme))
    if key and bearer:
        config.authorization_token = key
    config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT", server_pem)
    config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT_CRL_CHECK", "false")
    return config


def outcome_of(result):
    details = result.cancellation_details
    code = getattr(details, "error_code", None) or getattr(details, "code", None) or details.reason
    return "%s: %s (%s)" % (result.reason.name, code.name,
                            (details.error_details or "").split(" SessionId")[0].split(" USP state")[0])


def synthesize(fleet, server_pem, key=None, bearer=False, service="tts-aria"):
    config = speech_config(fleet, service, "https", server_pem, key, bearer)
    config.speech_synthesis_voice_name = VOICE
    config.set_speech_synthesis_output_format(sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    try:
        result = synthesizer.speak_text_async(WEATHER).get()
        if result.reason == sdk.ResultReason.SynthesizingAudioCompleted:
            return "served (%d bytes of audio)" % len(result.audio_data)
        return outcome_of(result)
    finally:
        del synthesizer  # released before the interpreter exits (the SDK can hang otherwise)


def recognize(fleet, server_pem, audio, key=None, bearer=False):
    config = speech_config(fleet, "stt-en-us", "wss", server_pem, key, bearer)
    recognizer = sdk.SpeechRecognizer(speech_config=config, audio_config=sdk.audio.AudioConfig(filename=audio))
    try:
        result = recognizer.recognize_once()
        if result.reason == sdk.ResultReason.RecognizedSpeech:
            return "served: %r" % result.text
        return outcome_of(result)
    finally:
        del recognizer


@pytest.fixture(scope="module")
def audio(fleet, keys, server_pem, tmp_path_factory):
    """The phrase as 16 kHz PCM, synthesized once through the load balancer with sdk-app's key."""
    return synthesize_wav(url(fleet, "tts-aria", "https"), VOICE, WEATHER, tmp_path_factory.mktemp("audio") / "weather.wav",
                          client_key=ClientKey(keys["sdk-app"]), trusted_pem=server_pem)


def files_holding(host, secret):
    """Text files under SEARCHED_TREES on a host that hold the secret (given on stdin, never in an argument)."""
    found = []
    for tree in SEARCHED_TREES:
        result = subprocess.run(["docker", "exec", "-i", host, "sh", "-c", f"grep -rlsIF -D skip -f /dev/stdin {tree}"],
                                input=secret, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode in (0, 1, 2), result.stderr
        found += result.stdout.split()
    return found


def haproxy_worker(fleet):
    """The running worker's process id (a reload starts a new one)."""
    return re.search(r"^Pid: (\d+)$", on_host(LB, *STATE_HELPER, "show", "info"), re.M).group(1)


# ----- what converge left on the load balancer ---------------------------------------------------------------------

def test_the_load_balancer_holds_each_keys_hash_and_name_and_no_key(fleet, keys):
    config = on_host(LB, "cat", "/etc/haproxy/haproxy.cfg")
    assert re.search(r"^frontend fe_tts-mtls\n    bind \S+ ssl crt \S+ ca-file /etc/haproxy/certs/client-ca\.pem verify required$",
                     config, re.M), config
    for service, clients in (("stt-en-us", ["sdk-app"]), ("tts-aria", ["rest-app", "sdk-app"])):
        path = f"{MAP_DIR}/client-keys-{service}.map"
        assert on_host(LB, "stat", "--format", "%U %G %a", path).split() == ["root", "haproxy", "640"]
        lines = [line.split() for line in on_host(LB, "cat", path).splitlines() if not line.startswith("#")]
        assert lines == [[hashlib.sha256(keys[name].encode()).hexdigest(), name] for name in clients], lines
    assert on_host(LB, "sh", "-c", f"test -e {MAP_DIR}/client-keys-tts-mtls.map && echo present || echo absent").strip() == "absent"
    for name, key in keys.items():
        for host in (LB, HOST):
            assert files_holding(host, key) == [], f"{name}'s key in a file on {host}"


# ----- client keys over REST ---------------------------------------------------------------------------------------

def test_rest_without_a_key_is_refused_with_401_in_the_containers_error_format(fleet, server_pem):
    status, headers, body = rest(fleet, server_pem)
    error = json.loads(body)["error"]
    record("anonymous", "no key", "REST POST https tts-aria", "401 no client key", f"{status} {error['message'][:40]}")
    assert status == 401 and error["code"] == 401 and error["message"].startswith("tts-aria: no client key.")
    assert headers["www-authenticate"] == 'Bearer realm="tts-aria"'


@pytest.mark.parametrize("credential, headers", [
    ("wrong key in Ocp-Apim-Subscription-Key", {"Ocp-Apim-Subscription-Key": WRONG_KEY}),
    ("wrong key in Authorization: Bearer", {"Authorization": "Bearer " + WRONG_KEY}),
])
def test_rest_with_a_wrong_key_is_refused_with_401(fleet, server_pem, credential, headers):
    status, response_headers, body = rest(fleet, server_pem, headers=headers)
    error = json.loads(body)["error"]
    record("stranger", credential, "REST POST https tts-aria", "401 key not accepted", f"{status} {error['message'][:50]}")
    assert status == 401 and "the client key is not accepted here" in error["message"]
    assert response_headers["www-authenticate"] == 'Bearer realm="tts-aria", error="invalid_token"'


@pytest.mark.parametrize("client, bearer", [("rest-app", False), ("rest-app", True), ("sdk-app", False)])
def test_rest_with_a_valid_key_in_the_header_or_as_bearer_is_served(fleet, server_pem, keys, client, bearer):
    headers = {"Authorization": "Bearer " + keys[client]} if bearer else {"Ocp-Apim-Subscription-Key": keys[client]}
    status, _headers, body = rest(fleet, server_pem, headers=headers)
    record(client, "its key as " + ("Authorization: Bearer" if bearer else "Ocp-Apim-Subscription-Key"),
           "REST POST https tts-aria", "200 audio", f"{status} {body[:4]!r}")
    assert status == 200 and body[:4] == b"RIFF"


# ----- client keys with the Speech SDK -----------------------------------------------------------------------------

def test_the_sdk_without_a_key_or_with_a_wrong_one_is_cancelled_with_an_authentication_failure(fleet, server_pem, keys, audio):
    cases = [("anonymous", "no key", None, "synthesis wss tts-aria", lambda key: synthesize(fleet, server_pem, key)),
             ("stranger", "wrong subscription key", WRONG_KEY, "synthesis wss tts-aria",
              lambda key: synthesize(fleet, server_pem, key)),
             ("anonymous", "no key", None, "recognition wss stt-en-us", lambda key: recognize(fleet, server_pem, audio, key)),
             ("rest-app", "its key (opens tts-aria only)", keys["rest-app"], "recognition wss stt-en-us",
              lambda key: recognize(fleet, server_pem, audio, key))]
    for client, credential, key, path, run in cases:
        seen = run(key)
        record(client, credential, "SDK " + path, "cancelled, AuthenticationFailure (401)", seen)
        assert seen.startswith("Canceled: AuthenticationFailure") and "(401)" in seen, seen


@pytest.mark.parametrize("bearer", [False, True])
def test_the_sdk_with_a_valid_key_is_served(fleet, server_pem, keys, audio, bearer):
    credential = "authorization_token (Bearer)" if bearer else "subscription key (Ocp-Apim-Subscription-Key)"
    seen = synthesize(fleet, server_pem, keys["sdk-app"], bearer)
    record("sdk-app", credential, "SDK synthesis wss tts-aria", "served", seen)
    assert seen.startswith("served"), seen
    seen = recognize(fleet, server_pem, audio, keys["sdk-app"], bearer)
    record("sdk-app", credential, "SDK recognition wss stt-en-us", "served: the phrase", seen)
    assert seen == "served: %r" % WEATHER, seen


# ----- client certificates (mTLS) ---------------------------------------------------------------------------------

def test_mtls_refuses_a_client_without_a_certificate_of_the_client_ca_and_serves_one_with_it(
        fleet, server_pem, keys, auth_dir, tmp_path):
    status, _headers, _body = rest(fleet, server_pem, "tts-mtls")
    record("anonymous", "no certificate", "REST POST https tts-mtls", "refused in the TLS handshake", str(status))
    assert isinstance(status, str) and status.startswith("refused in the TLS handshake"), status
    status, _headers, _body = rest(fleet, server_pem, "tts-mtls", headers={"Ocp-Apim-Subscription-Key": keys["sdk-app"]})
    record("sdk-app", "a client key, no certificate", "REST POST https tts-mtls", "refused in the TLS handshake", str(status))
    assert isinstance(status, str), status
    # a certificate of another CA: the load balancer's own self-signed one, with a key made here
    stranger_key = tmp_path / "stranger.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=stranger", "-days", "1", "-keyout", str(stranger_key), "-out", str(tmp_path / "stranger.pem")],
                   check=True, capture_output=True)
    status, _headers, _body = rest(fleet, server_pem, "tts-mtls", certificate=(str(tmp_path / "stranger.pem"), str(stranger_key)))
    record("stranger", "a certificate of another CA", "REST POST https tts-mtls", "refused in the TLS handshake", str(status))
    assert isinstance(status, str), status
    status, _headers, body = rest(fleet, server_pem, "tts-mtls", certificate=(str(auth_dir / "client.pem"), str(auth_dir / "client.key")))
    record("mtls-client", "a certificate of the client CA", "REST POST https tts-mtls", "200 audio", f"{status} {body[:4]!r}")
    assert status == 200 and body[:4] == b"RIFF"
    seen = synthesize(fleet, server_pem, service="tts-mtls")
    record("anonymous", "no certificate (the SDK presents none)", "SDK synthesis wss tts-mtls", "cancelled, connection failure", seen)
    assert seen.startswith("Canceled:") and "AuthenticationFailure" not in seen, seen
    log = on_host(LB, "journalctl", "--unit", "haproxy", "--no-pager", "--output", "cat", "--since", "-5min")
    assert re.search(r"fe_tts-mtls~ tts-mtls/\S+ .* 200 .*\{mtls-client\}", log), log[-2000:]


# ----- source networks -------------------------------------------------------------------------------------------

def test_a_source_outside_the_allowed_networks_gets_no_http_at_all(fleet, server_pem, keys):
    run = fleet.playbook("playbooks/loadbalancer.yml", json.dumps({"speech_lb_allow_from_by_service": {"tts-aria": ["192.0.2.0/24"]}}))
    assert run.rc == 0, run.tail()
    try:
        answer = b""
        try:  # HAProxy closes the connection as it accepts it, before TLS
            with socket.create_connection((fleet.lb_address, fleet.plan()["services"]["tts-aria"]["lb_port"]), timeout=10) as client:
                client.sendall(b"\x16\x03\x01\x00\x05hello")
                answer = client.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            pass
        record("sdk-app", "its key, from a source outside 192.0.2.0/24", "TCP to tts-aria", "closed, no HTTP",
               "closed, %d bytes" % len(answer))
        assert answer == b""
        assert rest(fleet, server_pem, "stt-en-us")[0] == 401  # its sources are not limited: it answers HTTP
    finally:
        run = fleet.playbook("playbooks/loadbalancer.yml")
        assert run.rc == 0, run.tail()
    assert rest(fleet, server_pem, headers={"Ocp-Apim-Subscription-Key": keys["sdk-app"]})[0] == 200


# ----- preflight ---------------------------------------------------------------------------------------------------

def test_preflight_refuses_keys_without_a_client_bad_shapes_and_mtls_without_tls(fleet, keys, tmp_path):
    run = fleet.playbook("playbooks/preflight.yml", extra_vars(tmp_path, "no-keys.yml", {"speech_lb_client_keys": []}))
    assert run.rc != 0 and said(run, "tts-aria (port") and said(run, "speech_lb_client_keys opens it to no client"), run.tail()
    short = {"speech_lb_client_keys": [{"name": "sdk-app", "key": keys["sdk-app"]}, {"name": "short", "key": "0123456789"}]}
    run = fleet.playbook("playbooks/preflight.yml", extra_vars(tmp_path, "short.yml", short))
    assert run.rc != 0 and said(run, "speech_lb_client_keys[1].key must be 16 to 1024 characters"), run.tail()
    assert keys["sdk-app"] not in run.output and "0123456789" not in run.output
    run = fleet.playbook("playbooks/preflight.yml", json.dumps({"speech_lb_auth_by_service": {"tts-mtls": "mtls", "tts": "none"}}))
    assert run.rc != 0 and said(run, "speech_lb_auth_by_service names tts, which the plan does not have"), run.tail()
    run = fleet.playbook("playbooks/preflight.yml", "loadbalancer_tls=none")
    assert run.rc != 0 and said(run, "which needs TLS on the load balancer, and loadbalancer_tls is none"), run.tail()
    record("operator", "`speech_lb_client_keys: []` / a 10-character key / an unknown service / mtls without TLS",
           "playbooks/preflight.yml", "refused, naming the variable", "refused")


def test_preflight_accepts_none_only_as_an_explicit_choice_with_a_warning(fleet):
    run = fleet.playbook("playbooks/preflight.yml", json.dumps({"speech_lb_auth": "none", "speech_lb_auth_by_service": {}}))
    assert run.rc == 0, run.tail()
    port = fleet.plan()["services"]["stt-en-us"]["lb_port"]
    assert said(run, f"WARNING: stt-en-us (port {port}) authenticates no client (speech_lb_auth: none): anyone who reaches it "
                     "runs requests billed to the Speech resource"), run.tail()
    record("operator", "`speech_lb_auth: none`", "playbooks/preflight.yml", "accepted with a WARNING", "WARNING printed")


# ----- check mode, rotation, secrets -------------------------------------------------------------------------------

def test_check_diff_of_a_new_key_names_the_client_and_changes_nothing(fleet, client_keys, server_pem, tmp_path):
    new_key = random_secrets.token_hex(24)
    maps = on_host(LB, "sha256sum", f"{MAP_DIR}/client-keys-tts-aria.map")
    clients = client_keys + [{"name": "check-app", "key": new_key}]
    run = fleet.playbook("playbooks/loadbalancer.yml", extra_vars(tmp_path, "new.yml", {"speech_lb_client_keys": clients}),
                         options=("--check", "--diff"))
    assert run.rc == 0, run.tail()
    assert said(run, f"{MAP_DIR}/client-keys-tts-aria.map") and said(run, "content not shown (a secret file)"), run.tail()
    assert said(run, "tts-aria: check-app, rest-app, sdk-app"), run.tail()
    assert new_key not in run.output and hashlib.sha256(new_key.encode()).hexdigest() not in run.output
    assert on_host(LB, "sha256sum", f"{MAP_DIR}/client-keys-tts-aria.map") == maps
    assert rest(fleet, server_pem, headers={"Ocp-Apim-Subscription-Key": new_key})[0] == 401


def test_a_client_key_rotation_under_closed_loop_load_fails_no_request(fleet, client_keys, keys, server_pem, audio, tmp_path):
    old, new = keys["sdk-app"], random_secrets.token_hex(24)
    rest_app = next(client for client in client_keys if client["name"] == "rest-app")
    services = fleet.plan()["services"]
    in_use, bearer = ClientKey(old), ClientKey(old, bearer=True)
    half = {name: max(1, services[name]["capacity"] // 2) for name in ("tts-aria", "stt-en-us")}
    load = SdkLoad([Workload("tts-rest", "tts_rest", url(fleet, "tts-aria", "https"), clients=half["tts-aria"],
                             client_key=in_use, trusted_pem=server_pem),
                    Workload("tts-sdk", "tts_sdk", url(fleet, "tts-aria", "https"), client_key=bearer, trusted_pem=server_pem),
                    Workload("stt-sdk", "stt_once", url(fleet, "stt-en-us", "wss"), clients=half["stt-en-us"], audio=audio,
                             expect=WEATHER, client_key=in_use, trusted_pem=server_pem)], grace=30, stop_timeout=60).start()
    try:
        assert load.wait_ready(60), load.report()
        worker = haproxy_worker(fleet)
        both = extra_vars(tmp_path, "both.yml", {"speech_lb_client_keys": [
            {"name": "sdk-app", "key": old}, {"name": "sdk-app-2", "key": new}, rest_app]})
        run = fleet.playbook("playbooks/rotate_client_keys.yml", both)
        assert run.rc == 0 and said(run, "stt-en-us: sdk-app, sdk-app-2") and "RUNNING HANDLER" not in run.output, run.tail()
        time.sleep(5)
        in_use.key = bearer.key = new  # the clients move over
        time.sleep(10)
        only_new = extra_vars(tmp_path, "new.yml", {"speech_lb_client_keys": [{"name": "sdk-app-2", "key": new}, rest_app]})
        run = fleet.playbook("playbooks/rotate_client_keys.yml", only_new)
        assert run.rc == 0 and said(run, "stt-en-us: sdk-app-2") and "RUNNING HANDLER" not in run.output, run.tail()
        time.sleep(5)
        assert haproxy_worker(fleet) == worker, "HAProxy was reloaded"
    finally:
        report = load.stop()
    print("LOAD REPORT", json.dumps(report["workloads"]))
    record("sdk-app -> sdk-app-2", "old key, both, then the new key (header and Bearer)",
           "REST and SDK under closed-loop load during playbooks/rotate_client_keys.yml", "0 failed",
           "%d failed of %d" % (report["totals"]["failed"], report["totals"]["sent"]))
    assert report["totals"]["failed"] == 0 and report["stuck_clients"] == 0, report["failures"][:5]
    assert all(numbers["ok"] > 0 for numbers in report["workloads"].values()), report["workloads"]
    assert rest(fleet, server_pem, headers={"Ocp-Apim-Subscription-Key": old})[0] == 401
    assert rest(fleet, server_pem, headers={"Ocp-Apim-Subscription-Key": new})[0] == 200
    run = fleet.playbook("playbooks/rotate_client_keys.yml")  # back to client-keys.json
    assert run.rc == 0, run.tail()


def test_a_planted_client_key_is_nowhere_in_clear(fleet, client_keys, keys, server_pem, tmp_path, monkeypatch):
    """The key of a new client, at -vvv through loadbalancer.yml and rotate_client_keys.yml with Ansible's log file on:
    not in their output or log, not in any text file on the load balancer or the speech host (only its SHA-256, in the
    maps), not in HAProxy's journal after a request with it, not on the controller outside the vault's stand-in."""
    planted = "planted-" + random_secrets.token_hex(20)
    clients = client_keys + [{"name": "planted", "key": planted}]
    variables = extra_vars(tmp_path, "planted.yml", {"speech_lb_client_keys": clients})
    log = tmp_path / "ansible.log"
    monkeypatch.setenv("ANSIBLE_LOG_PATH", str(log))
    outputs = []
    for playbook in ("playbooks/loadbalancer.yml", "playbooks/rotate_client_keys.yml"):
        run = fleet.playbook(playbook, variables, options=("-vvv",))
        assert run.rc == 0, run.tail()
        outputs.append(run.output)
    monkeypatch.delenv("ANSIBLE_LOG_PATH")
    assert rest(fleet, server_pem, headers={"Ocp-Apim-Subscription-Key": planted})[0] == 200
    texts = "\n".join(outputs) + log.read_text()
    assert "PLAY RECAP" in log.read_text()
    for secret in [planted] + list(keys.values()):
        assert secret not in texts
        for host in (LB, HOST):
            assert files_holding(host, secret) == [], host
        assert secret not in on_host(LB, "journalctl", "--unit", "haproxy", "--no-pager", "--output", "cat")
    hashed = hashlib.sha256(planted.encode()).hexdigest()
    assert sorted(files_holding(LB, hashed)) == [f"{MAP_DIR}/client-keys-stt-en-us.map", f"{MAP_DIR}/client-keys-tts-aria.map"]
    ephemeral = Path(env("MOLECULE_EPHEMERAL_DIRECTORY"))
    trees = [fleet.artifacts, ephemeral, PROJECT / ".cache" / "facts", PROJECT / "tests" / "output" / "auth"]
    files = [path for tree in trees for path in Path(tree).rglob("*")
             if path.is_file() and not path.is_symlink() and (ephemeral / "auth") not in path.parents]
    for path in files:
        assert planted.encode() not in path.read_bytes(), f"the planted key is in {path}"
    record("planted", "a new key at -vvv", "loadbalancer.yml, rotate_client_keys.yml, every file", "nowhere in clear",
           "nowhere in clear")
    run = fleet.playbook("playbooks/rotate_client_keys.yml")  # back to client-keys.json
    assert run.rc == 0, run.tail()
