# -*- coding: utf-8 -*-
# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loadbalancer role's client access, rendered by Ansible (haproxy.cfg, the map files, the client CA) and run by
the real HAProxy on 127.0.0.1 in front of a small backend that records the headers it gets.

Every mode renders a configuration `haproxy -c` accepts, with no clear key in any file and no request header logged.
keys: no key and a wrong key get 401 with a JSON body and WWW-Authenticate, on REST and on the WebSocket upgrade
alike; a valid key in Ocp-Apim-Subscription-Key or as a Bearer token is served and neither header reaches the
container; the log names the client only. A rotation through the runtime API under closed-loop load fails no request
and never reloads HAProxy. mtls: no handshake without a client certificate the client CA signed. Source networks: a
refused source gets no HTTP at all. The stats page and the health checks work as before."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import haproxy
from ansible_collections.speechops.speech.plugins.modules import haproxy_client_keys

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "loadbalancer"
ANSIBLE = Path(sys.executable).parent / "ansible"
OLD_KEY = "old-client-key-0123456789abcdef"
NEW_KEY = "new-client-key-fedcba9876543210"
OTHER_KEY = "other-client-key-00000000000000"
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1?language=en-US"
TTS_PATH = "/cognitiveservices/v1"
KEY_HEADERS = ("ocp-apim-subscription-key", "authorization")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


class Backend:
    """An aiohttp server (its own event loop in a thread) standing in for the containers: /ready, REST syntheses and
    WebSocket upgrades, recording the headers of every request but the health checks."""

    def __init__(self):
        from aiohttp import web

        self.headers = []
        self.loop = asyncio.new_event_loop()

        async def ready(_request):
            return web.Response(text="ready")

        async def synthesis(request):
            self.headers.append(dict((name.lower(), value) for name, value in request.headers.items()))
            await request.read()
            return web.Response(body=b"RIFF")

        async def session(request):
            self.headers.append(dict((name.lower(), value) for name, value in request.headers.items()))
            websocket = web.WebSocketResponse()
            await websocket.prepare(request)
            async for _message in websocket:
                pass
            return websocket

        app = web.Application()
        app.router.add_get("/ready", ready)
        app.router.add_post(TTS_PATH, synthesis)
        app.router.add_get("/speech/recognition/conversation/cognitiveservices/v1", session)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.port = free_port()
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def backend():
    started = Backend()
    yield started
    started.stop()


def services(backend):
    def service(name, kind, protocol, synthesis=False):
        return {"kind": kind, "protocol": protocol, "synthesis": synthesis, "lb_port": free_port(), "concurrency": 8,
                "backends": [{"container": "speech-%s-1" % name, "address": "127.0.0.1", "port": backend.port}]}
    return {"stt": service("stt", "speech-to-text", "ws"), "tts": service("tts", "neural-text-to-speech", "http", True)}


def render(tmp_path, planned, **extra_vars):
    """haproxy.cfg, the map files and the client CA exactly as the role writes them (its configure and access calls),
    by Ansible, written under tmp_path (the role's folders moved there); returns (config path, config text)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    variables = {"loadbalancer_services": planned, "loadbalancer_bind_address": "127.0.0.1",
                 "loadbalancer_stats_socket": str(tmp_path / "admin.sock"),
                 "loadbalancer_server_state_file": str(tmp_path / "server-state"), "loadbalancer_chroot": "",
                 "loadbalancer_log_targets": ["stderr format short local0 info"], "loadbalancer_stats_port": free_port(),
                 "loadbalancer_check_inter": "100ms", "loadbalancer_tls_dir": str(tmp_path / "certs"),
                 "__loadbalancer_access_dir": str(tmp_path / "speechops")}
    variables.update(extra_vars)
    variables_file = tmp_path / "variables.json"
    variables_file.write_text(json.dumps(variables))
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug",
         "-a", "msg={{ {'config': __loadbalancer_config_files[0].content, 'access': __loadbalancer_access_files} }}",
         "-e", "@defaults/main.yml", "-e", "@vars/main.yml", "-e", "@vars/Debian.yml", "-e", "@%s" % variables_file],
        cwd=str(ROLE), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    for folder in rendered["access"]["directories"]:
        Path(folder["path"]).mkdir(parents=True, exist_ok=True)
    for entry in rendered["access"]["files"]:
        Path(entry["path"]).parent.mkdir(parents=True, exist_ok=True)
        Path(entry["path"]).write_text(entry["content"])
    if variables.get("loadbalancer_tls") == "provided":  # the PEM tls.yml writes
        (tmp_path / "certs" / "speechops.pem").write_text(variables["loadbalancer_tls_certificate"]
                                                          + variables["loadbalancer_tls_private_key"])
    config = tmp_path / "haproxy.cfg"
    config.write_text(rendered["config"])
    check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return config, rendered


@contextmanager
def running_haproxy(config):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/system-deps.sh (make setup installs it)")
    log = open(str(config) + ".log", "w")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_up(api, planned, timeout=10.0):
    servers = [(name, service["backends"][0]["container"]) for name, service in planned.items()]
    deadline = time.monotonic() + timeout
    stat = {}
    while time.monotonic() < deadline:
        try:
            stat = api.stat()
        except haproxy.RuntimeApiError:
            stat = {}
        if all(stat.get(server, {}).get("status") == "UP" for server in servers):
            return
        time.sleep(0.05)
    raise AssertionError("servers %s not UP within %ss: %s" % (servers, timeout, stat))


def post(port, headers=None, context=None):
    """(status, headers, body) of one synthesis request through the load balancer."""
    if context is None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("POST", TTS_PATH, body=b"<speak/>", headers=dict(headers or {}, Connection="close"))
        response = connection.getresponse()
        return response.status, dict((name.lower(), value) for name, value in response.getheaders()), response.read()
    finally:
        connection.close()


def upgrade(port, headers=None):
    """The status line and body of the answer to a WebSocket upgrade for speech to text."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        extra = "".join("%s: %s\r\n" % item for item in (headers or {}).items())
        client.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n%s\r\n"
                        % (STT_PATH, base64.b64encode(os.urandom(16)).decode(), extra)).encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = client.recv(4096)
            if not chunk:
                break
            answer += chunk
        head, _sep, body = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        while length and len(body) < int(length.group(1)):
            body += client.recv(4096)
        return head.decode().split("\r\n", 1)[0], body.decode()
    finally:
        client.close()


def run_module(capfd, **args):
    with pytest.raises(SystemExit):
        with patch_module_args(args):
            haproxy_client_keys.main()
    return json.loads(capfd.readouterr().out)


# --- every mode renders a configuration HAProxy accepts -------------------------------------------------------------

def make_ca(tmp_path):
    """A client CA, a client certificate it signs, and a server certificate for 127.0.0.1 (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, ca=False, usage=None, names=None):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    def pem_key(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _key in range(3))
    files = {"ca": certificate("speechops client CA", ca_key, "speechops client CA", ca_key, ca=True),
             "server": certificate("lb.test", server_key, "lb.test", server_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                                   names=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
             "client": certificate("billing-app", client_key, "speechops client CA", ca_key,
                                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)}
    files.update(server_key=pem_key(server_key), client_key=pem_key(client_key))
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / ("%s.pem" % name)
        paths[name].write_text(text)
    return files, paths


MODES = {
    "keys": {"speech_lb_client_keys": [{"name": "app", "key": OLD_KEY}]},
    "none": {"speech_lb_auth": "none"},
    "keys and sources by service": {"speech_lb_client_keys": [{"name": "app", "key": OLD_KEY, "services": ["tts"]}],
                                    "speech_lb_auth_by_service": {"stt": "none"},
                                    "speech_lb_allow_from": ["10.0.0.0/8", "2001:db8::/32"],
                                    "speech_lb_allow_from_by_service": {"tts": ["127.0.0.0/8"]}},
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_renders_a_configuration_haproxy_accepts_and_no_file_holds_a_key(tmp_path, backend, mode):
    config, rendered = render(tmp_path, services(backend), **MODES[mode])
    text = rendered["config"]
    every_file = text + "".join(entry["content"] for entry in rendered["access"]["files"])
    assert OLD_KEY not in every_file and OLD_KEY[:12] not in every_file
    assert "capture request header" not in text and "log-format" not in text  # no header reaches the log
    assert re.search(r"^    option httplog$", text, re.M)
    keys_frontends = re.findall(r"^frontend (fe_\S+)\n(?:    .*\n)*?    http-request del-header Authorization$", text, re.M)
    if mode == "none":
        assert keys_frontends == [] and "http-request return status 401" not in text
        assert rendered["access"]["files"] == []
    elif mode == "keys":
        assert keys_frontends == ["fe_stt", "fe_tts"] and "tcp-request connection reject" not in text
        maps = [str(tmp_path / "speechops" / ("client-keys-%s.map" % name)) for name in ("stt", "tts")]
        assert [entry["path"] for entry in rendered["access"]["files"]] == maps
    else:
        assert keys_frontends == ["fe_tts"]
        stt = text[text.index("frontend fe_stt"):text.index("backend stt")]
        assert "    acl client_source_allowed src 10.0.0.0/8 2001:db8::/32\n    tcp-request connection reject unless client_source_allowed" in stt
        assert "client-keys" not in stt
        assert "acl client_source_allowed src 127.0.0.0/8" in text[text.index("frontend fe_tts"):]
    assert "frontend stats\n    bind 127.0.0.1:" in text  # untouched


def test_mtls_renders_the_client_ca_beside_the_tls_files_and_names_its_hash(tmp_path, backend):
    files, _paths = make_ca(tmp_path)
    config, rendered = render(tmp_path, services(backend), loadbalancer_tls="provided",
                              loadbalancer_tls_certificate=files["server"], loadbalancer_tls_private_key=files["server_key"],
                              speech_lb_auth="mtls", speech_lb_client_ca=files["ca"])
    ca_file = tmp_path / "certs" / "client-ca.pem"
    assert [entry["path"] for entry in rendered["access"]["files"]] == [str(ca_file)]
    assert ca_file.read_text() == files["ca"]
    bind = re.findall(r"^    bind 127\.0\.0\.1:\d+ (.*)$", rendered["config"], re.M)
    assert bind == ["ssl crt %s ca-file %s verify required" % (tmp_path / "certs" / "speechops.pem", ca_file)] * 2
    assert "(SHA-256 %s)" % sha(files["ca"]) in rendered["config"]


# --- keys on REST and WebSocket upgrades -----------------------------------------------------------------------------

def test_keys_refuse_a_missing_or_wrong_key_and_serve_a_valid_one_that_never_reaches_the_container(tmp_path, backend):
    planned = services(backend)
    config, rendered = render(tmp_path, planned, speech_lb_client_keys=[{"name": "app", "key": OLD_KEY},
                                                                        {"name": "stt-only", "key": OTHER_KEY, "services": ["stt"]}])
    stats_port = int(re.search(r"^frontend stats\n    bind 127\.0\.0\.1:(\d+)$", rendered["config"], re.M).group(1))
    tts, stt = planned["tts"]["lb_port"], planned["stt"]["lb_port"]
    with running_haproxy(config):
        wait_until_up(haproxy.RuntimeApi(str(tmp_path / "admin.sock")), planned)  # the health checks pass

        status, headers, body = post(tts)
        assert status == 401 and headers["content-type"] == "application/json"
        assert headers["www-authenticate"] == 'Bearer realm="tts"'
        assert json.loads(body)["error"]["code"] == 401
        assert json.loads(body)["error"]["message"].startswith("tts: no client key. Send it in the Ocp-Apim-Subscription-Key header")
        for wrong in ({"Ocp-Apim-Subscription-Key": NEW_KEY}, {"Authorization": "Bearer " + NEW_KEY},
                      {"Ocp-Apim-Subscription-Key": OTHER_KEY}):  # the last one opens stt only
            status, headers, body = post(tts, wrong)
            assert status == 401 and headers["www-authenticate"] == 'Bearer realm="tts", error="invalid_token"'
            assert "the client key is not accepted here" in json.loads(body)["error"]["message"]
        status, _headers, body = post(tts, {"Authorization": "Basic dXNlcjpwYXNz"})
        assert status == 401 and "no client key" in json.loads(body)["error"]["message"]
        assert backend.headers == []  # nothing refused reached the container

        assert post(tts, {"Ocp-Apim-Subscription-Key": OLD_KEY})[0] == 200
        assert post(tts, {"Authorization": "Bearer " + OLD_KEY})[0] == 200
        assert len(backend.headers) == 2
        assert all(name not in seen for seen in backend.headers for name in KEY_HEADERS), backend.headers

        status, body = upgrade(stt)
        assert status == "HTTP/1.1 401 Unauthorized" and "stt: no client key" in body
        assert upgrade(stt, {"Ocp-Apim-Subscription-Key": NEW_KEY})[0] == "HTTP/1.1 401 Unauthorized"
        assert upgrade(stt, {"Ocp-Apim-Subscription-Key": OTHER_KEY})[0] == "HTTP/1.1 101 Switching Protocols"
        assert upgrade(stt, {"Authorization": "Bearer " + OLD_KEY})[0] == "HTTP/1.1 101 Switching Protocols"
        assert all(name not in seen for seen in backend.headers for name in KEY_HEADERS), backend.headers

        stats = http.client.HTTPConnection("127.0.0.1", stats_port, timeout=5)
        stats.request("GET", "/")
        assert stats.getresponse().status == 200  # the stats page needs no key
        time.sleep(0.3)  # the log lines of the last requests
    log = Path(str(config) + ".log").read_text()
    assert re.search(r"fe_tts tts/speech-tts-1 .* 200 .* \{app\} ", log), log
    assert re.search(r"fe_stt stt/speech-stt-1 .* 101 .* \{stt-only\} ", log), log
    for secret in (OLD_KEY, NEW_KEY, OTHER_KEY, sha(OLD_KEY), sha(NEW_KEY)):
        assert secret not in log


def test_a_rotation_under_closed_loop_load_fails_no_request_and_reloads_nothing(tmp_path, backend, capfd):
    planned = services(backend)
    config, rendered = render(tmp_path, planned, speech_lb_client_keys=[{"name": "app", "key": OLD_KEY}])
    port = planned["tts"]["lb_port"]
    keys_map = str(tmp_path / "speechops" / "client-keys-tts.map")
    in_use = {"key": OLD_KEY}
    outcomes, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            key = in_use["key"]
            outcomes.append((key, post(port, {"Ocp-Apim-Subscription-Key": key})[0]))

    with running_haproxy(config) as process:
        wait_until_up(haproxy.RuntimeApi(str(tmp_path / "admin.sock")), planned)
        threads = [threading.Thread(target=client) for _client in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            both = [{"name": "app", "key_sha256": sha(OLD_KEY)}, {"name": "app-2", "key_sha256": sha(NEW_KEY)}]
            added = run_module(capfd, socket=str(tmp_path / "admin.sock"), maps=[{"path": keys_map, "clients": both}])
            assert added["changed"] and added["maps"][0]["added"] == ["app-2"]
            time.sleep(0.5)
            in_use["key"] = NEW_KEY  # the clients move over
            time.sleep(0.5)
            removed = run_module(capfd, socket=str(tmp_path / "admin.sock"),
                                 maps=[{"path": keys_map, "clients": both[1:]}])
            assert removed["changed"] and removed["maps"][0]["removed"] == ["app"]
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
        assert post(port, {"Ocp-Apim-Subscription-Key": OLD_KEY})[0] == 401
        assert process.poll() is None
    statuses = [status for _key, status in outcomes]
    assert len(statuses) > 100 and set(statuses) == {200}, [item for item in outcomes if item[1] != 200][:5]
    assert {key for key, _status in outcomes} == {OLD_KEY, NEW_KEY}


# --- mtls and source networks ----------------------------------------------------------------------------------------

def test_mtls_completes_no_handshake_without_a_certificate_of_the_client_ca(tmp_path, backend):
    files, paths = make_ca(tmp_path)
    planned = services(backend)
    config, _rendered = render(tmp_path, planned, loadbalancer_tls="provided", loadbalancer_tls_certificate=files["server"],
                               loadbalancer_tls_private_key=files["server_key"], speech_lb_auth="mtls",
                               speech_lb_client_ca=files["ca"])
    port = planned["tts"]["lb_port"]
    with running_haproxy(config):
        wait_until_up(haproxy.RuntimeApi(str(tmp_path / "admin.sock")), planned)
        anonymous = ssl.create_default_context(cafile=str(paths["server"]))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            post(port, context=anonymous)
        stranger = ssl.create_default_context(cafile=str(paths["server"]))
        stranger.load_cert_chain(str(paths["server"]), str(paths["server_key"]))  # a certificate the client CA did not sign
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            post(port, context=stranger)
        assert backend.headers == []
        client = ssl.create_default_context(cafile=str(paths["server"]))
        client.load_cert_chain(str(paths["client"]), str(paths["client_key"]))
        assert post(port, context=client)[0] == 200
        time.sleep(0.3)
    assert re.search(r"fe_tts~ tts/speech-tts-1 .* 200 .* \{billing-app\} ", Path(str(config) + ".log").read_text())


def test_a_source_outside_the_networks_gets_no_http_at_all(tmp_path, backend):
    planned = services(backend)
    config, _rendered = render(tmp_path, planned, speech_lb_auth="none", speech_lb_allow_from=["10.0.0.0/8"],
                               speech_lb_allow_from_by_service={"stt": ["127.0.0.0/8"]})
    with running_haproxy(config):
        wait_until_up(haproxy.RuntimeApi(str(tmp_path / "admin.sock")), planned)
        answer = b""
        try:  # HAProxy closes the connection as it accepts it: the reset may come at connect, send or receive
            with socket.create_connection(("127.0.0.1", planned["tts"]["lb_port"]), timeout=5) as refused:
                refused.sendall(b"POST /cognitiveservices/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                answer = refused.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert answer == b""
        assert upgrade(planned["stt"]["lb_port"])[0] == "HTTP/1.1 101 Switching Protocols"
    assert backend.headers and all("upgrade" in seen for seen in backend.headers)


VALIDATE_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate the load balancer's input
      ansible.builtin.include_role:
        name: speechops.speech.loadbalancer
        tasks_from: validate
"""


@pytest.mark.parametrize("settings, message", [
    ({}, r"client access: FAILED \(1 problem; nothing was changed\)\s+- stt \(port 8000\) takes client keys "
         r"\(speech_lb_auth: keys\) but speech_lb_client_keys opens it to no client"),
    ({"speech_lb_auth": "mtls", "speech_lb_client_ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
     r"which needs TLS on the load balancer, and loadbalancer_tls is none"),
    ({"speech_lb_client_keys": [{"name": "app", "key": "0123456789"}]}, r"speech_lb_client_keys\[0\]\.key must be"),
])
def test_the_role_refuses_a_client_access_no_request_could_pass_before_writing_anything(tmp_path, settings, message):
    service = {"kind": "speech-to-text", "lb_port": 8000, "protocol": "ws", "concurrency": 3,
               "backends": [{"container": "speech-stt-1", "address": "127.0.0.1", "port": 5100}]}
    (tmp_path / "validate.yml").write_text(VALIDATE_PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(ANSIBLE) + "-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "validate.yml"),
         "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(dict(settings, loadbalancer_services={"stt": service}))],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and re.search(message, output), output
    assert "0123456789" not in output
