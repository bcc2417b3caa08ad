"""Disconnected mode end to end, behind TLS: what the Molecule `disconnected` scenario's converge did (licences
through the proxy, the billing stub stopped, site.yml with speech_disconnected: true) holds, and the fleet serves the
real Speech SDK over https:// and wss://; the usage records reach the controller; preflight guards the licences.

The Speech SDK trusts one certificate given in its OPENSSL_SINGLE_TRUSTED_CERT property (Microsoft Learn, "Configure
OpenSSL for Linux"), so each TLS case also shows that the SDK refuses the load balancer without the right one.
"""
from __future__ import annotations

import datetime
import json
import os
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import azure.cognitiveservices.speech as sdk
import pytest

os.environ.setdefault("FLEET_LOG_FOLDER", "disconnected")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))

from fleet import Fleet, docker, env, on_host  # noqa: E402

HOST = "speechops-moldc-host1"
LB = "speechops-moldc-lb1"

VOICE = "en-US-AriaNeural"
PHRASE = "What's the weather like?"
SELFSIGNED = "/etc/haproxy/certs/selfsigned/10-certificate.pem"


@pytest.fixture(scope="module")
def fleet():
    artifacts = Path(env("MOLECULE_EPHEMERAL_DIRECTORY")) / "artifacts"
    artifacts.mkdir(exist_ok=True)
    fleet = Fleet(inventory=env("MOLECULE_INVENTORY_FILE"), artifacts=artifacts, hosts=[HOST], lb=LB)
    run = fleet.playbook("playbooks/plan.yml")  # writes the plan the tests read
    assert run.rc == 0, run.tail()
    return fleet


def lb_url(fleet, service, scheme):
    return f"{scheme}://{fleet.lb_address}:{fleet.plan()['services'][service]['lb_port']}"


def speech_config(url, trusted_pem):
    config = sdk.SpeechConfig(host=url)
    if trusted_pem is not None:
        config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT", trusted_pem)
        # a self-signed or private CA names no revocation list
        config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT_CRL_CHECK", "false")
    return config


def synthesize(fleet, trusted_pem, text=PHRASE):
    config = speech_config(lb_url(fleet, "tts-aria", "https"), trusted_pem)
    config.speech_synthesis_voice_name = VOICE
    config.set_speech_synthesis_output_format(sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    result = synthesizer.speak_text_async(text).get()
    del synthesizer
    if result.reason != sdk.ResultReason.SynthesizingAudioCompleted:
        details = result.cancellation_details
        return None, f"{result.reason}: {details.reason} {details.error_details}"
    return bytes(result.audio_data), "completed"


def recognize(fleet, trusted_pem, audio, folder):
    wav = folder / "phrase.wav"
    wav.write_bytes(audio)
    recognizer = sdk.SpeechRecognizer(speech_config=speech_config(lb_url(fleet, "stt-en-us", "wss"), trusted_pem),
                                      audio_config=sdk.audio.AudioConfig(filename=str(wav)))
    result = recognizer.recognize_once()
    del recognizer
    if result.reason == sdk.ResultReason.RecognizedSpeech:
        return result.text
    return f"<{result.reason}: {result.cancellation_details.error_details if result.reason == sdk.ResultReason.Canceled else ''}>"


def rest_synthesis(fleet, trusted_pem):
    """One synthesis over plain REST (https://…/cognitiveservices/v1), the way a REST client calls it."""
    context = ssl.create_default_context(cadata=trusted_pem)
    ssml = (f"<speak version='1.0' xml:lang='en-US'><voice name='{VOICE}'>{PHRASE}</voice></speak>").encode()
    request = urllib.request.Request(lb_url(fleet, "tts-aria", "https") + "/speech/synthesize/cognitiveservices/v1",
                                     data=ssml, headers={"Content-Type": "application/ssml+xml",
                                                         "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    with opener.open(request, timeout=30) as answer:
        return answer.status, answer.read()


def said(run, text):
    """Whether the run's output holds the text, however the callback wrapped its lines."""
    return " ".join(text.split()) in " ".join(run.output.split())


def container_names():
    return on_host(HOST, "docker", "ps", "--filter", "label=speechops.managed=true", "--format", "{{.Names}}").split()


# ----- what converge did -----------------------------------------------------------------------------------------

def test_the_licences_came_through_the_proxy_with_its_password(fleet):
    billing = env("SANDBOX_BILLING").rstrip("/")
    proxy_log = on_host(LB, "journalctl", "--unit", "tinyproxy", "--no-pager", "--output", "cat")
    host_address = fleet.address(HOST)
    downloads = [line for line in proxy_log.splitlines() if line.startswith("Request") and f"{billing}/" in line and "license" in line]
    assert len(downloads) >= 2, proxy_log[-2000:]  # one per kind: speech to text, neural text to speech
    assert "Connect (file descriptor" in proxy_log and host_address in proxy_log, proxy_log[-2000:]
    # the proxy wants the password: without it, 407
    anonymous = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://{fleet.address(LB)}:8888"}))
    with pytest.raises(urllib.error.HTTPError, match="407"):
        anonymous.open(f"{billing}/", timeout=10)
    # the speech host itself cannot reach the billing endpoint: only the proxy could have fetched them
    direct = subprocess.run(["docker", "exec", HOST, "python3", "-c", f"import urllib.request as u; u.urlopen('{billing}/', timeout=3)"],
                            capture_output=True, text=True, check=False)
    last_line = (direct.stderr.strip().splitlines() or ["no error"])[-1]
    assert direct.returncode != 0 and "No route to host" in last_line, last_line
    record = json.loads(on_host(HOST, "cat", "/var/lib/speechops/licenses/speechops-licenses.json"))
    planned = {c["kind"]: c["image"] for c in fleet.plan()["hosts"][HOST]["containers"]}
    assert {kind: entry["image"] for kind, entry in record.items()} == planned
    owners = on_host(HOST, "stat", "--format", "%u %a %n", "/var/lib/speechops/licenses").split()
    assert owners[:2] == ["65532", "750"]


def test_the_containers_run_from_the_licences_with_no_billing_and_no_key(fleet):
    stub = json.loads(docker("inspect", f"{env('SANDBOX_PREFIX')}-billing"))[0]["State"]
    assert stub["Running"] is False
    names = container_names()
    assert sorted(name.rsplit("-", 1)[0] for name in names) == ["speech-stt-en-us", "speech-tts-aria"]
    for name in names:
        settings = dict(line.split("=", 1) for line in on_host(HOST, "cat", f"/etc/speechops/{name}/env").splitlines()
                        if "=" in line and not line.startswith("#"))
        assert settings["Mounts__License"] == "/license" and settings["Mounts__Output"] == "/output", settings.keys()
        assert "Billing" not in settings and "ApiKey" not in settings, sorted(settings)


# ----- the real Speech SDK over TLS --------------------------------------------------------------------------------

def test_the_sdk_is_served_over_https_and_wss_with_the_selfsigned_certificate(fleet, tmp_path):
    pem = on_host(LB, "cat", SELFSIGNED)
    audio, outcome = synthesize(fleet, pem)
    assert audio, outcome
    assert recognize(fleet, pem, audio, tmp_path) == PHRASE
    status, body = rest_synthesis(fleet, pem)
    assert status == 200 and body[:4] == b"RIFF"


def test_the_sdk_refuses_the_load_balancer_without_its_certificate(fleet):
    audio, outcome = synthesize(fleet, None)
    assert audio is None and "Canceled" in outcome, outcome
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        rest_synthesis(fleet, make_certificate_authority()[0])


# ----- usage records ---------------------------------------------------------------------------------------------

def test_usage_records_of_every_container_reach_the_controller(fleet, tmp_path):
    pem = on_host(LB, "cat", SELFSIGNED)
    for _attempt in range(3):
        audio, outcome = synthesize(fleet, pem)
        assert audio, outcome
        assert recognize(fleet, pem, audio, tmp_path) == PHRASE
    run = fleet.playbook("playbooks/usage_records.yml")
    assert run.rc == 0, run.tail()
    folder = fleet.artifacts / "usage-records" / HOST
    for name in container_names():
        summary = json.loads((folder / f"{name}.json").read_text())
        meters = {meter["name"]: meter["quantity"] for meter in summary["meters"]}
        assert meters and all(quantity > 0 for quantity in meters.values()), (name, summary)
        with tarfile.open(folder / f"{name}-output.tar.gz") as packed:
            assert any("usage" in member.name for member in packed.getmembers() if member.isfile()), packed.getnames()
    month = datetime.date.today().strftime("%m/%Y")
    run = fleet.playbook("playbooks/usage_records.yml", f"speech_jobs_usage_month={month}")
    assert run.rc == 0, run.tail()
    run = fleet.playbook("playbooks/usage_records.yml", "speech_jobs_usage_month=2026-01")
    assert run.rc != 0 and said(run, "write the month as MM/YYYY"), run.tail()


# ----- preflight's licence checks ------------------------------------------------------------------------------------

def days_from_today(days):
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=days)).isoformat()


def test_preflight_warns_ahead_of_the_licences_expiry_and_refuses_after_it(fleet):
    soon = days_from_today(10)
    run = fleet.playbook("playbooks/preflight.yml", f"speech_license_expires_on={soon}")
    assert run.rc == 0, run.tail()
    assert said(run, f"WARNING: the disconnected licences expire on {soon}, in 10 day(s)"), run.tail()
    later = days_from_today(200)
    run = fleet.playbook("playbooks/preflight.yml", f"speech_license_expires_on={later}")
    assert run.rc == 0 and not said(run, "WARNING: the disconnected licences"), run.tail()
    run = fleet.playbook("playbooks/preflight.yml", f"speech_license_expires_on={days_from_today(-1)}")
    assert run.rc != 0 and said(run, "The disconnected licences expired on") and said(run, "(speech_license_expires_on)"), run.tail()


def test_preflight_refuses_an_image_whose_licence_was_not_downloaded(fleet):
    services = json.dumps({"speech_services": [
        {"name": "tts-aria", "kind": "neural-text-to-speech", "version": "4.0.0", "voice": VOICE, "replicas": 1,
         "cpus": 0.25, "memory_mb": 256}]})
    before = container_names()
    run = fleet.playbook("playbooks/rollout.yml", services)
    assert run.rc != 0, run.tail()
    assert said(run, "has no licence for") and said(run, "neural-text-to-speech:4.0.0"), run.tail()
    assert container_names() == before


# ----- a provided certificate ------------------------------------------------------------------------------------

def make_certificate_authority():
    """A private CA's certificate and key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "speechops test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(), certificate, key)


def make_server_certificate(ca_certificate, ca_key, address):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "speech.sandbox")]))
                   .issuer_name(ca_certificate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("speech.sandbox"),
                                                               x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_the_sdk_is_served_with_a_provided_certificate_and_trusts_only_its_ca(fleet, tmp_path):
    ca_pem, _ca_key_pem, ca_certificate, ca_key = make_certificate_authority()
    leaf_pem, leaf_key_pem = make_server_certificate(ca_certificate, ca_key, fleet.lb_address)
    variables = tmp_path / "tls.json"
    variables.touch(mode=0o600)
    # the chain after the certificate, as an operator's vaulted loadbalancer_tls_certificate holds it
    variables.write_text(json.dumps({"loadbalancer_tls": "provided", "loadbalancer_tls_certificate": leaf_pem + ca_pem,
                                     "loadbalancer_tls_private_key": leaf_key_pem}))
    selfsigned = on_host(LB, "cat", SELFSIGNED)
    run = fleet.playbook("playbooks/loadbalancer.yml", f"@{variables}")
    assert run.rc == 0, run.tail()
    assert leaf_key_pem.strip().splitlines()[1] not in run.output  # the key is never printed
    audio, outcome = synthesize(fleet, ca_pem)
    assert audio, outcome
    assert recognize(fleet, ca_pem, audio, tmp_path) == PHRASE
    status, body = rest_synthesis(fleet, ca_pem)
    assert status == 200 and body[:4] == b"RIFF"
    audio, outcome = synthesize(fleet, selfsigned)  # the certificate served before is no longer trusted
    assert audio is None and "Canceled" in outcome, outcome
