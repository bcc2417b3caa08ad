# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""probe module_utils against a real HTTP server and a tiny WebSocket server on 127.0.0.1, with a fake clock."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.speechops.speech.plugins.module_utils import probe

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VOICE = "en-US-AriaNeural"
VOICE_MISMATCH = "Synthesis failed. StatusCode: InvalidArgument, Details: Voice does not match."
FAKE_KEY = "0123456789abcdef0123456789abcdef"


def wav(samples=8000, rate=16000, channels=1, bits=16, format_tag=1, data_size=None):
    """A RIFF/WAVE file of silence; data_size overrides the data chunk size (0xFFFFFFFF: streamed)."""
    width = bits // 8
    data = b"\x00" * (samples * width * channels)
    size = len(data) if data_size is None else data_size
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, format_tag, channels, rate, rate * width * channels, width * channels, bits)
            + b"data" + struct.pack("<I", size) + data)


# --- a scripted HTTP server ----------------------------------------------------------------------

class Script(object):
    """What the server answers: per path a list of (status, headers, body) used in turn, the last one repeated."""

    def __init__(self):
        self.routes = {}
        self.requests = []

    def on(self, path, *answers):
        self.routes[path] = list(answers)

    def next(self, path):
        answers = self.routes.get(path)
        if not answers:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        script = self.server.script
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = dict((name.lower(), value) for name, value in self.headers.items())
        script.requests.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
        status, headers, payload = script.next(self.path)
        if callable(payload):
            payload = payload(self.headers, body)
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode("utf-8")
            headers = dict({"Content-Type": "application/json"}, **headers)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.script = Script()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = "http://127.0.0.1:{0}".format(httpd.server_address[1])
    yield httpd
    httpd.shutdown()
    httpd.server_close()


class FakeTime(object):
    """A monotonic clock that only moves when the code under test sleeps (or a request 'takes' time)."""

    def __init__(self, per_request=0.0):
        self.now = 1000.0
        self.sleeps = []
        self.per_request = per_request

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def prober(url, fake_time=None, **kwargs):
    fake_time = fake_time or FakeTime()
    return probe.Prober(url, clock=fake_time.clock, sleep=fake_time.sleep, wall_clock=lambda: 1700000000.0, **kwargs)


READY = (200, {}, {"service": "speechtotext", "ready": "ready", "message": "The container is ready to accept queries."})
NOT_READY = (503, {}, {"service": "speechtotext", "ready": "notready", "message": "Models are still loading."})


def status_answer(api_status, message="some message", retry_after=None, http_status=200):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return http_status, headers, {"service": "speechtotext", "apiStatus": api_status, "apiStatusMessage": message}


# --- describe_status -----------------------------------------------------------------------------

ENDPOINT = "https://contoso.cognitiveservices.azure.com/"

DESCRIBE_CASES = [
    # (apiStatus, words that must appear, words that must not appear)
    ("Valid", ["ok", "valid for https://contoso.cognitiveservices.azure.com/"], ["not valid"]),
    ("Invalid", ["ApiKey is not valid for https://contoso.cognitiveservices.azure.com/", "Keys and Endpoint"], ["ok:"]),
    ("Mismatch", ["different kind of Azure AI resource or region", "Speech resource"], ["ok:"]),
    ("CouldNotConnect", ["cannot reach https://contoso.cognitiveservices.azure.com/", "HTTP_PROXY", "NO_PROXY", "firewall"], ["ok:"]),
    ("OutOfQuota", ["out of quota", "pricing tier"], ["ok:"]),
    ("BillingEndpointBusy", ["is busy", "Retry-After"], ["ok:"]),
    ("ContainerUseUnauthorized", ["not authorized to use this container", "approv", "disconnected"], ["ok:"]),
    ("Unknown", ["cannot process billing requests"], ["ok:"]),
]


@pytest.mark.parametrize("api_status, present, absent", DESCRIBE_CASES, ids=[case[0] for case in DESCRIBE_CASES])
def test_describe_status_every_documented_value(api_status, present, absent):
    words = probe.describe_status(api_status, "message from the container", ENDPOINT)
    for part in present:
        assert part in words
    for part in absent:
        assert part not in words
    assert words.endswith("(container says: message from the container)")


def test_every_documented_value_has_its_own_words():
    assert [case[0] for case in DESCRIBE_CASES] == list(probe.API_STATUSES)
    phrases = set(probe.describe_status(status, None) for status in probe.API_STATUSES)
    assert len(phrases) == len(probe.API_STATUSES)
    assert not any("unrecognised" in phrase for phrase in phrases)


def test_describe_status_without_endpoint_names_the_billing_setting():
    assert "the ApiKey is not valid for the Billing endpoint" in probe.describe_status("Invalid", None)
    assert probe.describe_status("BillingEndpointBusy", None).startswith("The Billing endpoint is busy")


def test_describe_status_unknown_value_and_missing_value():
    assert "unrecognised apiStatus 'Frobnicated'" in probe.describe_status("Frobnicated", "")
    assert "Valid, Invalid, Mismatch" in probe.describe_status("Frobnicated", "")
    assert probe.describe_status(None, None) == "/status gave no apiStatus"


def test_describe_status_never_shows_credentials_or_keys():
    words = probe.describe_status("Invalid", "key " + FAKE_KEY + " rejected", "https://user:secret@contoso.example/path?subscription-key=x#f")
    assert FAKE_KEY not in words and "secret" not in words and "subscription-key" not in words
    assert "<masked>" in words
    assert "https://contoso.example/path" in words


def test_retry_after_forms():
    assert probe.parse_retry_after("60") == 60.0
    assert probe.parse_retry_after(" 2.5 ") == 2.5
    assert probe.parse_retry_after(None) is None
    assert probe.parse_retry_after("soon") is None
    assert probe.parse_retry_after("-3") is None
    # An HTTP-date 90 s after "now".
    assert probe.parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now=1700000030.0) == 90.0
    assert probe.parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=1700000030.0) == 0.0


@pytest.mark.parametrize("url, error", [
    ("127.0.0.1:5100", "must start with http"),
    ("ftp://127.0.0.1:5100", "must start with http"),
    ("http://", "names no host"),
    ("http://user:pw@127.0.0.1:5100", "user or password"),
    ("http://127.0.0.1:5100/?x=1", "without query"),
])
def test_bad_urls_are_refused(url, error):
    with pytest.raises(ValueError, match=error):
        probe.Prober(url)


def test_base_url_with_prefix_and_default_port():
    p = probe.Prober("http://speech.example/front/ ")
    assert (p.scheme, p.host, p.port, p.prefix) == ("http", "speech.example", 80, "/front")
    assert p.url("/ready") == "http://speech.example/front/ready"


# --- /ready --------------------------------------------------------------------------------------

def test_ready_after_three_polls(server):
    server.script.on("/ready", NOT_READY, NOT_READY, NOT_READY, READY)
    fake = FakeTime()
    result = prober(server.url, fake).wait_ready(ready_timeout=300, interval=2.0)
    assert result["ready"] is True
    assert result["polls"] == 4
    assert fake.sleeps == [2.0, 2.0, 2.0]
    assert result["waited_seconds"] == 6.0
    assert result["last"]["status"] == 200


def test_never_ready_records_the_last_answer(server):
    server.script.on("/ready", NOT_READY)
    fake = FakeTime()
    result = prober(server.url, fake).wait_ready(ready_timeout=5, interval=2.0)
    assert result["ready"] is False
    assert fake.sleeps == [2.0, 2.0, 1.0]  # the last sleep is cut to the deadline
    assert result["polls"] == 4
    assert result["waited_seconds"] == 5.0
    assert probe.describe_answer(result["last"]).startswith("HTTP 503: ")
    assert "Models are still loading." in probe.describe_answer(result["last"])


def test_ready_timeout_zero_asks_once(server):
    server.script.on("/ready", NOT_READY)
    fake = FakeTime()
    result = prober(server.url, fake).wait_ready(ready_timeout=0, interval=1.0)
    assert (result["ready"], result["polls"], fake.sleeps) == (False, 1, [])


def test_ready_when_nothing_listens():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # the port is free: connection refused
    result = prober("http://127.0.0.1:{0}".format(port)).wait_ready(ready_timeout=2, interval=1.0)
    assert result["ready"] is False
    assert result["last"]["status"] is None
    assert "refused" in result["last"]["error"].lower()
    assert probe.describe_answer(result["last"]).startswith("no answer (")


def test_probes_ignore_http_proxy_environment(server, monkeypatch):
    # A proxy that does not exist: if urllib used it, the request would fail.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.script.on("/ready", READY)
    assert prober(server.url).wait_ready(ready_timeout=0, interval=1.0)["ready"] is True
    assert server.script.requests[0]["path"] == "/ready"


def test_ready_failure_message_names_url_expectation_last_answer_and_status_words(server):
    server.script.on("/ready", NOT_READY)
    result = prober(server.url).wait_ready(ready_timeout=3, interval=1.0)
    message = probe.ready_failure_message(server.url, 3, result, probe.describe_status("CouldNotConnect", None))
    assert message.startswith(server.url + " did not become ready within 3 s")
    assert "expected HTTP 200 from " + server.url + "/ready" in message
    assert "HTTP 503" in message and "Models are still loading." in message
    assert "cannot reach the Billing endpoint" in message
    assert "of 4 answer(s)" in message


# --- /status -------------------------------------------------------------------------------------

def test_status_valid_at_once(server):
    server.script.on("/status", status_answer("Valid", "Api Key is valid, no action needed."))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=30, interval=1.0)
    assert (status["api_status"], status["api_status_message"]) == ("Valid", "Api Key is valid, no action needed.")
    assert (status["attempts"], status["http_status"], fake.sleeps) == (1, 200, [])


def test_status_honours_retry_after_until_valid(server):
    server.script.on("/status", status_answer("CouldNotConnect", retry_after="7"), status_answer("BillingEndpointBusy", retry_after="3"),
                     status_answer("Valid"))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=30, interval=1.0)
    assert status["api_status"] == "Valid"
    assert status["attempts"] == 3
    assert fake.sleeps == [7.0, 3.0]


def test_status_retry_after_is_cut_to_the_timeout(server):
    server.script.on("/status", status_answer("CouldNotConnect", "Could not connect to the billing endpoint.", retry_after="60"))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=30, interval=1.0)
    assert status["api_status"] == "CouldNotConnect"
    assert fake.sleeps == [30.0]
    assert status["attempts"] == 2
    assert status["retry_after"] == 60.0
    assert status["waited_seconds"] == 30.0


def slow_answer(seconds, answer):
    def payload(headers, body):
        time.sleep(seconds)
        return answer[2]
    return answer[0], answer[1], payload


def test_status_keeps_the_last_api_status_when_the_last_try_gets_no_answer(server):
    """The billing endpoint down: /status said CouldNotConnect, then the retry timed out; the report must
    still say CouldNotConnect (what the operator acts on), not only that /status did not answer."""
    server.script.on("/status", status_answer("CouldNotConnect", "Could not connect to the billing endpoint.", retry_after="60"),
                     slow_answer(1.0, status_answer("CouldNotConnect")))
    fake = FakeTime()
    status = prober(server.url, fake, request_timeout=0.3).check_status(status_timeout=30, interval=1.0)
    assert status["attempts"] == 2
    assert (status["api_status"], status["http_status"]) == ("CouldNotConnect", 200)
    assert status["api_status_message"] == "Could not connect to the billing endpoint."


def test_status_without_retry_after_uses_the_interval(server):
    server.script.on("/status", status_answer("BillingEndpointBusy"), status_answer("Valid"))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=30, interval=1.5)
    assert (status["api_status"], fake.sleeps) == ("Valid", [1.5])


@pytest.mark.parametrize("api_status", ["Invalid", "Mismatch", "OutOfQuota", "ContainerUseUnauthorized", "Unknown"])
def test_status_key_problems_are_not_retried(server, api_status):
    server.script.on("/status", status_answer(api_status, retry_after="5"), status_answer("Valid"))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=30, interval=1.0)
    assert (status["api_status"], status["attempts"], fake.sleeps) == (api_status, 1, [])


def test_status_timeout_zero_asks_once_even_when_busy(server):
    server.script.on("/status", status_answer("BillingEndpointBusy", retry_after="5"))
    fake = FakeTime()
    status = prober(server.url, fake).check_status(status_timeout=0, interval=1.0)
    assert (status["api_status"], status["attempts"], fake.sleeps) == ("BillingEndpointBusy", 1, [])


def test_status_that_is_not_json(server):
    server.script.on("/status", (200, {"Content-Type": "text/html"}, b"<html>hello</html>"))
    status = prober(server.url).check_status(status_timeout=0, interval=1.0)
    assert status["api_status"] is None
    assert probe.status_words(status) == "/status answered HTTP 200: <html>hello</html> without an apiStatus"


def test_status_message_is_redacted(server):
    server.script.on("/status", status_answer("Invalid", "key " + FAKE_KEY + " is wrong"))
    status = prober(server.url).check_status(status_timeout=0, interval=1.0)
    assert status["api_status_message"] == "key <masked> is wrong"
    assert FAKE_KEY not in probe.status_words(status, ENDPOINT)


def test_status_failure_message(server):
    server.script.on("/status", status_answer("Invalid", "The Api Key is invalid."))
    server.script.on("/ready", READY)
    p = prober(server.url)
    ready = p.wait_ready(0, 1.0)
    status = p.check_status(0, 1.0)
    message = probe.status_failure_message(server.url, ["Valid"], status, probe.status_words(status, ENDPOINT), ready)
    assert message.startswith(server.url + "/status reported Invalid, expected apiStatus Valid")
    assert "ApiKey is not valid for https://contoso.cognitiveservices.azure.com/" in message
    assert "/ready answered HTTP 200" in message


# --- TTS smoke -----------------------------------------------------------------------------------

def test_tts_smoke_valid_riff_and_saved(server, tmp_path):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "audio/x-wav"}, wav()))
    target = tmp_path / "probe.wav"
    result = prober(server.url).tts_smoke(VOICE, save_audio=str(target))
    assert result["ok"] is True, result["error"]
    assert (result["http_status"], result["content_type"], result["bytes"]) == (200, "audio/x-wav", len(wav()))
    assert result["audio"] == {"format_tag": 1, "channels": 1, "sample_rate": 16000, "bits_per_sample": 16, "data_bytes": 16000}
    assert target.read_bytes() == wav()
    assert result["saved_to"] == str(target)
    request = server.script.requests[-1]
    assert (request["method"], request["path"]) == ("POST", "/speech/synthesize/cognitiveservices/v1")
    assert request["headers"]["content-type"] == "application/ssml+xml"
    assert request["headers"]["x-microsoft-outputformat"] == "riff-16khz-16bit-mono-pcm"
    assert b'<voice name="en-US-AriaNeural">' in request["body"]
    assert b'xml:lang="en-US"' in request["body"]


def test_tts_smoke_accepts_streamed_wav_sizes(server):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "audio/x-wav"}, wav(data_size=0xFFFFFFFF)))
    result = prober(server.url).tts_smoke(VOICE)
    assert result["ok"] is True, result["error"]
    assert result["audio"]["data_bytes"] == 16000


def test_tts_smoke_non_audio_body(server, tmp_path):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "text/html"}, b"<html>proxy login</html>" * 100))
    target = tmp_path / "probe.wav"
    result = prober(server.url).tts_smoke(VOICE, save_audio=str(target))
    assert result["ok"] is False
    assert "not RIFF/WAVE audio" in result["error"] and "text/html" in result["error"]
    assert not target.exists()
    assert result["saved_to"] is None


def test_tts_smoke_voice_does_not_match(server):
    server.script.on(probe.TTS_PATH, (400, {"Content-Type": "text/plain"}, VOICE_MISMATCH.encode()))
    result = prober(server.url).tts_smoke("en-US-GuyNeural")
    assert result["ok"] is False
    assert result["http_status"] == 400
    assert "Voice does not match" in result["error"]
    assert "does not serve voice 'en-US-GuyNeural'" in result["error"]
    message = probe.smoke_failure_message(server.url, result, "ok", {"last": probe.answer(200, {}, b"{}")})
    assert "expected RIFF/WAVE audio (riff-16khz-16bit-mono-pcm) from POST " + server.url + probe.TTS_PATH in message
    assert "Voice does not match" in message


def test_tts_smoke_too_short(server):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "audio/x-wav"}, wav(samples=10)))
    result = prober(server.url).tts_smoke(VOICE)
    assert result["ok"] is False
    assert "only 64 bytes" in result["error"]


def test_tts_smoke_wrong_format(server):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "audio/x-wav"}, wav(rate=24000)))
    result = prober(server.url).tts_smoke(VOICE)
    assert result["ok"] is False
    assert "24000 Hz" in result["error"]


def test_tts_smoke_unsupported_media_type_hint(server):
    server.script.on(probe.TTS_PATH, (415, {}, b"Unsupported Media Type"))
    result = prober(server.url).tts_smoke(VOICE)
    assert "application/ssml+xml" in result["error"]


def test_tts_smoke_save_into_missing_directory(server, tmp_path):
    server.script.on(probe.TTS_PATH, (200, {"Content-Type": "audio/x-wav"}, wav()))
    result = prober(server.url).tts_smoke(VOICE, save_audio=str(tmp_path / "missing" / "probe.wav"))
    assert result["ok"] is False
    assert "could not be written" in result["error"]


def test_ssml_escapes_and_derives_the_locale():
    ssml = probe.build_ssml('zh-CN-sichuan-Yun"xi', "a < b")
    assert 'xml:lang="zh-CN-sichuan"' in ssml
    assert "name='zh-CN-sichuan-Yun\"xi'" in ssml
    assert "a &lt; b" in ssml


# --- WebSocket smoke -----------------------------------------------------------------------------

class UpgradeServer(object):
    """Accepts connections in a thread, reads the request head and answers with ``respond(request_head)``."""

    def __init__(self, respond):
        self.respond = respond
        self.heads = []
        self.after = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:{0}".format(self.port)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, dummy_address = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            self.heads.append(head)
            reply = self.respond(head)
            if reply is None:
                return  # close without an answer
            conn.sendall(reply)
            try:
                while True:  # what the client sends after the answer, until it closes
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    self.after.append(chunk)
            except OSError:
                pass

    def close(self):
        self.thread.join(5)
        self.listener.close()


def header(head, name):
    for line in head.split("\r\n")[1:]:
        key, dummy_sep, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def switching(accept_for=None):
    def respond(head):
        key = header(head, "Sec-WebSocket-Key")
        accept = base64.b64encode(hashlib.sha1(((accept_for or key) + GUID).encode()).digest()).decode()
        return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").encode()
    return respond


@pytest.fixture
def upgrade_server():
    servers = []

    def start(respond):
        servers.append(UpgradeServer(respond))
        return servers[-1]
    yield start
    for started in servers:
        started.close()


def test_websocket_upgrade_accepted_and_closed(upgrade_server):
    srv = upgrade_server(switching())
    result = prober(srv.url).websocket_smoke(probe.STT_PATH)
    assert result["ok"] is True, result["error"]
    assert (result["http_status"], result["accept_valid"], result["test"]) == (101, True, "websocket")
    srv.thread.join(5)
    head = srv.heads[0]
    assert head.startswith("GET /speech/recognition/conversation/cognitiveservices/v1 HTTP/1.1\r\n")
    assert header(head, "Host") == "127.0.0.1:{0}".format(srv.port)
    assert header(head, "Upgrade") == "websocket" and header(head, "Sec-WebSocket-Version") == "13"
    assert len(base64.b64decode(header(head, "Sec-WebSocket-Key"))) == 16
    # A masked Close frame with status 1000, then the connection is closed.
    frame = b"".join(srv.after)
    assert frame[:2] == b"\x88\x82"
    mask = frame[2:6]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6:8])) == struct.pack("!H", 1000)


def test_websocket_key_is_random(upgrade_server):
    first, second = upgrade_server(switching()), upgrade_server(switching())
    prober(first.url).websocket_smoke(probe.LID_PATH)
    prober(second.url).websocket_smoke(probe.LID_PATH)
    first.thread.join(5)
    second.thread.join(5)
    assert header(first.heads[0], "Sec-WebSocket-Key") != header(second.heads[0], "Sec-WebSocket-Key")
    assert first.heads[0].startswith("GET /speech/universal/v2 HTTP/1.1")


def test_websocket_wrong_accept(upgrade_server):
    srv = upgrade_server(switching(accept_for="c29tZXRoaW5nIGVsc2UhIQ=="))
    result = prober(srv.url).websocket_smoke(probe.STT_PATH)
    assert result["ok"] is False
    assert result["accept_valid"] is False
    assert "Sec-WebSocket-Accept" in result["error"] and "expected" in result["error"]


def test_websocket_404(upgrade_server):
    body = b"Speech to text is served over WebSocket only (Speech SDK)."
    srv = upgrade_server(lambda head: b"HTTP/1.1 404 Not Found\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    result = prober(srv.url).websocket_smoke(probe.STT_PATH)
    assert result["ok"] is False
    assert result["http_status"] == 404
    assert result["error"] == "the WebSocket upgrade answered HTTP 404, expected 101 Switching Protocols: " + body.decode()
    message = probe.smoke_failure_message(srv.url, result, "ok", {"last": probe.answer(200, {}, b"")})
    assert "expected a WebSocket upgrade (HTTP 101) on " + srv.url + probe.STT_PATH in message


def test_websocket_101_without_upgrade_header(upgrade_server):
    srv = upgrade_server(lambda head: b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
    result = prober(srv.url).websocket_smoke(probe.STT_PATH)
    assert (result["ok"], result["error"]) == (False, "HTTP 101 without Upgrade: websocket")


def test_websocket_server_closes_without_answer(upgrade_server):
    srv = upgrade_server(lambda head: None)
    result = prober(srv.url).websocket_smoke(probe.STT_PATH)
    assert result["ok"] is False
    assert "closed the connection before answering" in result["error"]


def test_websocket_connection_refused():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    result = prober("http://127.0.0.1:{0}".format(port)).websocket_smoke(probe.STT_PATH)
    assert result["ok"] is False
    assert result["error"].startswith("WebSocket upgrade failed: ")
    assert "refused" in result["error"].lower()


def test_websocket_timeout_is_reported():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts (backlog) but never answers
    try:
        url = "http://127.0.0.1:{0}".format(listener.getsockname()[1])
        result = prober(url).websocket_smoke(probe.STT_PATH, timeout=0.3)
    finally:
        listener.close()
    assert result["ok"] is False
    assert result["error"] == "no complete answer to the WebSocket upgrade within 0.3 s"


def test_upgrade_request_brackets_ipv6_hosts():
    request = probe.upgrade_request("::1", 5100, "/x", "a2V5", "http").decode()
    assert "\r\nHost: [::1]:5100\r\n" in request
    assert probe.upgrade_request("speech.example", 80, "/x", "a2V5").decode().count("Host: speech.example\r\n") == 1


def test_websocket_accept_matches_rfc_6455_example():
    # RFC 6455 section 1.3
    assert probe.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --- per kind ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, test, path, timeout", [
    ("speech-to-text", "websocket", probe.STT_PATH, 300),
    ("custom-speech-to-text", "websocket", probe.STT_PATH, 300),
    ("neural-text-to-speech", "tts", probe.TTS_PATH, 300),
    ("language-detection", "websocket", "/speech/universal/v2", 120),
    ("text-to-speech", "tts", probe.TTS_PATH, 120),
    ("custom-text-to-speech", "tts", probe.TTS_PATH, 120),
])
def test_smoke_test_and_ready_timeout_per_kind(kind, test, path, timeout):
    assert probe.SMOKE_TESTS[kind] == (test, path)
    assert probe.ready_timeout_for(kind) == timeout


def test_ready_timeout_without_kind():
    assert probe.ready_timeout_for(None) == 300


def test_public_answer_has_no_headers_or_bytes():
    public = probe.public_answer(probe.answer(503, {"Set-Cookie": "x"}, b'{"ready": "notready"}'))
    assert public == {"status": 503, "body": '{"ready": "notready"}', "error": None}
