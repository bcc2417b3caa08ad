# -*- coding: utf-8 -*-
# Copyright (c) speechops team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The probe module end to end: main() with patched arguments against a scripted container on 127.0.0.1.

Time is faked (the module's Prober gets a clock that only moves when it sleeps), so waits cost nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.speechops.speech.plugins.module_utils import probe as probe_utils
from ansible_collections.speechops.speech.plugins.modules import probe

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VOICE = "en-US-AriaNeural"
ENDPOINT = "https://contoso.cognitiveservices.azure.com/"
WEBSOCKET = "websocket"  # an answer that performs the upgrade
BAD_WEBSOCKET = "bad websocket"  # an upgrade with a wrong Sec-WebSocket-Accept


def wav(samples=8000):
    data = b"\x00\x01" * samples
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


READY = (200, {}, {"service": "speechtotext", "ready": "ready", "message": "The container is ready to accept queries."})
NOT_READY = (503, {}, {"service": "speechtotext", "ready": "notready", "message": "Models are still loading."})
AUDIO = (200, {"Content-Type": "audio/x-wav"}, wav())
VOICE_MISMATCH = (400, {}, b"Synthesis failed. StatusCode: InvalidArgument, Details: Voice does not match.")


def status(api_status, message="Api Key is valid, no action needed.", retry_after=None):
    return 200, {"Retry-After": retry_after} if retry_after else {}, {"service": "speechtotext", "apiStatus": api_status, "apiStatusMessage": message}


class Handler(BaseHTTPRequestHandler):
    """Answers from server.routes: {path: [answer, ...]}, used in turn, the last one repeated (a callable is asked for one)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, body))
        answers = self.server.routes.get(self.path) or [(404, {}, b"not found")]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer):
            answer = answer()
        if answer in (WEBSOCKET, BAD_WEBSOCKET):
            return self._upgrade(answer == BAD_WEBSOCKET)
        code, headers, payload = answer
        if isinstance(payload, dict):
            payload, headers = json.dumps(payload).encode(), dict(headers, **{"Content-Type": "application/json"})
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _upgrade(self, wrong):
        key = "d3Jvbmcga2V5IGhlcmUh" if wrong else self.headers["Sec-WebSocket-Key"]
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.server.frames.append(self.rfile.read(8) if not wrong else b"")

    do_GET = _answer
    do_POST = _answer


def wait_for(condition, seconds=5.0):
    """The first truthy value of condition() within ``seconds`` (the server thread may lag the module)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def serve_container():
    """A scripted container on a free loopback port (see Handler); yields it, then shuts it down."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests, httpd.frames = {}, [], []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = "http://127.0.0.1:{0}".format(httpd.server_address[1])

    def script(**routes):
        for path, answers in routes.items():
            httpd.routes[path] = list(answers)
    httpd.script = script
    yield httpd
    httpd.shutdown()
    httpd.server_close()


container = pytest.fixture(serve_container, name="container")
second_container = pytest.fixture(serve_container, name="second_container")


@pytest.fixture
def sleeps(monkeypatch):
    """Give the module's Prober a clock that moves only when it sleeps; return the list of sleeps."""
    taken = []
    now = [500.0]

    def sleep(seconds):
        taken.append(seconds)
        now[0] += seconds

    def fake_prober(url):
        return probe_utils.Prober(url, clock=lambda: now[0], sleep=sleep)

    monkeypatch.setattr(probe, "Prober", fake_prober)
    return taken


@pytest.fixture
def run_module(capsys, sleeps):
    def run(args):
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                probe.main()
        return json.loads(capsys.readouterr().out)
    return run


def test_ready_after_polls_and_valid(container, run_module, sleeps):
    container.script(**{"/ready": [NOT_READY, NOT_READY, READY], "/status": [status("Valid")]})
    result = run_module({"url": container.url + "/", "kind": "speech-to-text", "interval": 2})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert (result["url"], result["ready"], result["waited_seconds"]) == (container.url, True, 4.0)
    assert sleeps == [2.0, 2.0]
    assert (result["api_status"], result["api_status_message"]) == ("Valid", "Api Key is valid, no action needed.")
    assert result["status_words"].startswith("ok: the ApiKey is valid")
    assert result["ready_answer"]["status"] == 200 and "ready" in result["ready_answer"]["body"]
    assert result["smoke"] == {"test": "none", "ok": None, "path": None, "http_status": None, "error": None, "elapsed_seconds": None}
    assert [request[1] for request in container.requests] == ["/ready", "/ready", "/ready", "/status"]


@pytest.mark.parametrize("kind, waited", [("language-detection", 120.0), ("neural-text-to-speech", 300.0), (None, 300.0)])
def test_never_ready_fails_after_the_kind_default(container, run_module, kind, waited):
    container.script(**{"/ready": [NOT_READY], "/status": [status("CouldNotConnect", "Could not connect.", retry_after="60")]})
    args = {"url": container.url, "interval": 10}
    if kind:
        args["kind"] = kind
    result = run_module(args)
    assert result["failed"] is True
    assert (result["ready"], result["waited_seconds"]) == (False, waited)
    msg = result["msg"]
    assert msg.startswith("{0} did not become ready within {1:g} s".format(container.url, waited))
    assert "expected HTTP 200 from {0}/ready".format(container.url) in msg
    assert "HTTP 503" in msg and "Models are still loading." in msg
    assert "/status: the container cannot reach the Billing endpoint" in msg
    assert result["api_status"] == "CouldNotConnect"
    # /status was asked once: a not-ready container does not also wait out its Retry-After.
    assert [request[1] for request in container.requests].count("/status") == 1


def test_explicit_ready_timeout_wins(container, run_module):
    container.script(**{"/ready": [NOT_READY], "/status": [status("Valid")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "ready_timeout": 7, "interval": 5})
    assert (result["failed"], result["waited_seconds"]) == (True, 7.0)


def test_invalid_key_fails_with_words(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Invalid", "The Api Key is invalid.")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "billing_endpoint": ENDPOINT})
    assert result["failed"] is True
    assert result["msg"].startswith(container.url + "/status reported Invalid, expected apiStatus Valid")
    assert "the ApiKey is not valid for " + ENDPOINT in result["msg"]
    assert "/ready answered HTTP 200" in result["msg"]
    assert result["status_words"].startswith("the ApiKey is not valid for " + ENDPOINT)


def test_expect_status_can_accept_other_values(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("OutOfQuota", "out of quota")]})
    result = run_module({"url": container.url, "expect_status": ["Valid", "OutOfQuota"]})
    assert result.get("failed") is not True
    assert result["api_status"] == "OutOfQuota"


def test_retry_after_is_honoured(container, run_module, sleeps):
    container.script(**{"/ready": [READY], "/status": [status("BillingEndpointBusy", "busy", retry_after="4"), status("Valid")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "status_timeout": 30})
    assert result["api_status"] == "Valid"
    assert sleeps == [4.0]


def test_still_unreachable_billing_fails_after_status_timeout(container, run_module, sleeps):
    container.script(**{"/ready": [READY], "/status": [status("CouldNotConnect", "Could not connect.", retry_after="60")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "status_timeout": 20})
    assert result["failed"] is True
    assert sleeps == [20.0]
    assert "reported CouldNotConnect, expected apiStatus Valid (after 2 attempt(s))" in result["msg"]
    assert "NO_PROXY" in result["msg"]


def test_tts_smoke_writes_audio(container, run_module, tmp_path):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.TTS_PATH: [AUDIO]})
    target = tmp_path / "probe.wav"
    result = run_module({"url": container.url, "kind": "neural-text-to-speech", "smoke": True, "voice": VOICE, "save_audio": str(target)})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    smoke = result["smoke"]
    assert (smoke["test"], smoke["ok"], smoke["http_status"], smoke["bytes"]) == ("tts", True, 200, len(wav()))
    assert smoke["content_type"] == "audio/x-wav" and smoke["audio"]["sample_rate"] == 16000
    assert smoke["saved_to"] == str(target) and target.read_bytes() == wav()
    assert b'<voice name="en-US-AriaNeural">' in container.requests[-1][2]


def test_check_mode_probes_but_writes_nothing(container, run_module, tmp_path):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.TTS_PATH: [AUDIO]})
    target = tmp_path / "probe.wav"
    result = run_module({"url": container.url, "kind": "neural-text-to-speech", "smoke": True, "voice": VOICE,
                         "save_audio": str(target), "_ansible_check_mode": True})
    assert result["changed"] is False
    assert result["smoke"]["ok"] is True and result["smoke"]["saved_to"] is None
    assert not target.exists()
    assert [request[1] for request in container.requests] == ["/ready", "/status", probe_utils.TTS_PATH]


def test_tts_smoke_voice_mismatch_fails(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.TTS_PATH: [VOICE_MISMATCH]})
    result = run_module({"url": container.url, "kind": "neural-text-to-speech", "smoke": True, "voice": "en-US-GuyNeural"})
    assert result["failed"] is True
    assert result["smoke"]["ok"] is False and result["smoke"]["http_status"] == 400
    assert result["msg"].startswith(container.url + " is ready but its tts smoke test failed")
    assert "Voice does not match" in result["msg"] and "'en-US-GuyNeural'" in result["msg"]


def test_tts_smoke_non_audio_fails(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.TTS_PATH: [(200, {"Content-Type": "text/plain"}, b"hello" * 400)]})
    result = run_module({"url": container.url, "kind": "text-to-speech", "smoke": True, "voice": "en-US-AriaRUS"})
    assert result["failed"] is True
    assert "not RIFF/WAVE audio" in result["msg"]


@pytest.mark.parametrize("kind, path", [("speech-to-text", probe_utils.STT_PATH), ("custom-speech-to-text", probe_utils.STT_PATH),
                                        ("language-detection", probe_utils.LID_PATH)])
def test_websocket_smoke(container, run_module, kind, path):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], path: [WEBSOCKET]})
    result = run_module({"url": container.url, "kind": kind, "smoke": True})
    assert result.get("failed") is not True, result.get("msg")
    assert (result["smoke"]["test"], result["smoke"]["ok"], result["smoke"]["http_status"], result["smoke"]["accept_valid"]) == ("websocket", True, 101, True)
    assert wait_for(lambda: container.frames)[0][:2] == b"\x88\x82"  # the module closed with a Close frame


def test_websocket_smoke_wrong_accept_fails(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.STT_PATH: [BAD_WEBSOCKET]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "smoke": True})
    assert result["failed"] is True
    assert result["smoke"]["accept_valid"] is False
    assert "Sec-WebSocket-Accept" in result["msg"]


def test_websocket_smoke_404_fails(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "smoke": True})
    assert result["failed"] is True
    assert "expected a WebSocket upgrade (HTTP 101) on {0}{1}".format(container.url, probe_utils.STT_PATH) in result["msg"]
    assert "answered HTTP 404" in result["msg"]


def test_smoke_needs_kind(container, run_module):
    result = run_module({"url": container.url, "smoke": True})
    assert result["failed"] is True
    assert "kind" in result["msg"]
    assert container.requests == []


def test_tts_smoke_needs_voice(container, run_module):
    result = run_module({"url": container.url, "kind": "neural-text-to-speech", "smoke": True})
    assert result["failed"] is True
    assert result["msg"].startswith("voice is required for the smoke test of kind neural-text-to-speech")
    assert container.requests == []


@pytest.mark.parametrize("args, error", [
    ({"url": "127.0.0.1:5100"}, "must start with http:// or https://"),
    ({"url": "http://127.0.0.1:5100", "interval": 0}, "interval must be more than 0"),
    ({"url": "http://127.0.0.1:5100", "status_timeout": -1}, "must be 0 or more"),
    ({"url": "http://127.0.0.1:5100", "expect_status": ["Okay"]}, "expect_status"),
    ({"url": "http://127.0.0.1:5100", "kind": "speech"}, "kind"),
])
def test_bad_options_are_refused(run_module, args, error):
    result = run_module(args)
    assert result["failed"] is True
    assert error in result["msg"]


def test_unused_voice_and_save_audio_warn(container, run_module, monkeypatch, tmp_path):
    # Recorded at the source: where warnings end up depends on whether controller code was imported.
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warnings.append(warning))
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "voice": VOICE, "save_audio": str(tmp_path / "x.wav")})
    assert result.get("failed") is not True
    assert [warning.split(";")[0] for warning in warnings] == [
        "voice is only used by the smoke test of a text to speech kind",
        "save_audio is only used by the smoke test of a text to speech kind",
    ]


# --- several targets in one call -----------------------------------------------------------------

def test_targets_report_each_verdict_in_order_and_fail_naming_the_failed_one(container, second_container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    second_container.script(**{"/ready": [NOT_READY], "/status": [status("Valid")]})
    result = run_module({"targets": [{"name": "speech-stt-1", "url": container.url, "kind": "speech-to-text"},
                                     {"name": "speech-lid-1", "url": second_container.url, "kind": "language-detection"}],
                         "ready_timeout": 3, "status_timeout": 0})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("1 of 2 containers failed: speech-lid-1: {0} did not become ready within 3 s".format(second_container.url))
    first, second = result["results"]
    assert (first["name"], first["kind"], first["url"], first["ready"], first["api_status"], first["failed"], first["msg"]) == \
        ("speech-stt-1", "speech-to-text", container.url, True, "Valid", False, None)
    assert (second["name"], second["ready"], second["failed"], second["waited_seconds"]) == ("speech-lid-1", False, True, 3.0)
    assert second["msg"] in result["msg"]


def test_targets_that_all_pass_do_not_fail_and_a_status_verdict_is_per_target(container, second_container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    second_container.script(**{"/ready": [READY], "/status": [status("CouldNotConnect", "Could not connect.")]})
    targets = [{"name": "a", "url": container.url}, {"name": "b", "url": second_container.url, "kind": "speech-to-text"}]
    passed = run_module({"targets": targets[:1], "status_timeout": 0})
    assert passed.get("failed") is not True and [entry["failed"] for entry in passed["results"]] == [False]
    mixed = run_module({"targets": targets, "status_timeout": 0})
    assert mixed["failed"] is True
    assert [(entry["name"], entry["ready"], entry["api_status"], entry["failed"]) for entry in mixed["results"]] == [
        ("a", True, "Valid", False), ("b", True, "CouldNotConnect", True)]
    assert mixed["results"][1]["msg"].startswith(second_container.url + "/status reported CouldNotConnect")
    assert mixed["results"][1]["status_words"].startswith("the container cannot reach the Billing endpoint")
    # status_timeout 0: each /status asked once
    assert [request[1] for request in second_container.requests] == ["/ready", "/status"]


def test_targets_are_probed_at_the_same_time(container, second_container, capsys):
    """Each /ready answers only once the other container has been asked too: a serial probe would time out."""
    barrier = threading.Barrier(2, timeout=3)

    def ready_when_both_asked():
        def answer():
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return NOT_READY
            return READY
        return answer

    for server in (container, second_container):
        server.script(**{"/ready": [ready_when_both_asked()], "/status": [status("Valid")]})
    with patch_module_args({"targets": [{"name": "a", "url": container.url}, {"name": "b", "url": second_container.url}],
                            "ready_timeout": 0, "status_timeout": 0}):
        with pytest.raises(SystemExit):
            probe.main()
    result = json.loads(capsys.readouterr().out)
    assert result.get("failed") is not True, result["msg"]
    assert [entry["ready"] for entry in result["results"]] == [True, True]


def test_a_target_with_a_bad_url_is_reported_and_the_others_probed(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    result = run_module({"targets": [{"name": "bad", "url": "127.0.0.1:5100"}, {"name": "good", "url": container.url}],
                         "ready_timeout": 0, "status_timeout": 0})
    assert result["failed"] is True
    assert result["msg"].startswith("1 of 2 containers failed: bad: url '127.0.0.1:5100' must start with http://")
    assert result["results"][0]["msg"] == "url '127.0.0.1:5100' must start with http:// or https://"
    assert [(entry["name"], entry["failed"]) for entry in result["results"]] == [("bad", True), ("good", False)]


@pytest.mark.parametrize("args, error", [
    ({}, "set exactly one of url (one container) and targets (several)"),
    ({"url": "http://127.0.0.1:5100", "targets": [{"name": "a", "url": "http://127.0.0.1:5101"}]}, "set exactly one of url"),
    ({"targets": [{"name": "a", "url": "http://127.0.0.1:5101"}], "smoke": True, "kind": "speech-to-text"},
     "targets cannot be used with smoke, kind"),
    ({"targets": [{"name": "a", "url": "http://127.0.0.1:5101"}], "voice": VOICE}, "targets cannot be used with voice"),
    ({"targets": [{"url": "http://127.0.0.1:5101"}]}, "name"),
    ({"targets": [{"name": "a", "url": "http://127.0.0.1:5101", "kind": "speech"}]}, "kind"),
])
def test_bad_target_options_are_refused(run_module, args, error):
    result = run_module(args)
    assert result["failed"] is True
    assert error in result["msg"]


# --- documentation -------------------------------------------------------------------------------

def documented_keys(return_doc):
    return {key: documented_keys(spec["contains"]) if spec.get("contains") else None for key, spec in return_doc.items()}


def returned_keys(value):
    return {key: returned_keys(item) if isinstance(item, dict) else None for key, item in value.items()}


def test_return_documentation_matches_the_result(container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")], probe_utils.TTS_PATH: [AUDIO], probe_utils.STT_PATH: [WEBSOCKET]})
    tts = run_module({"url": container.url, "kind": "neural-text-to-speech", "smoke": True, "voice": VOICE})
    ws = run_module({"url": container.url, "kind": "speech-to-text", "smoke": True})
    documented = documented_keys(yaml.safe_load(probe.RETURN))
    for result in (tts, ws):
        returned = returned_keys(result)
        for key in ("changed", "invocation", "warnings"):
            returned.pop(key, None)
        assert set(returned) == set(documented) - {"results", "billing"}
        assert set(returned["smoke"]) <= set(documented["smoke"])
    assert set(documented["smoke"]) == set(returned_keys(tts)["smoke"]) | set(returned_keys(ws)["smoke"])
    assert returned_keys(tts)["smoke"]["audio"] == documented["smoke"]["audio"]
    many = run_module({"targets": [{"name": "a", "url": container.url, "kind": "speech-to-text"}]})
    entry = returned_keys(many["results"][0])
    assert set(returned_keys(many)) - {"changed", "invocation"} == {"results", "billing"}
    assert set(entry) == set(documented["results"]) | set(documented) - {"results", "billing"}
    assert set(entry["smoke"]) == {"test", "ok", "path", "http_status", "error", "elapsed_seconds"}


def test_documented_options_match_the_argument_spec():
    def compare(options, spec):
        assert set(options) == set(spec)
        for name, option in options.items():
            for field in ("type", "default", "choices", "elements", "required"):
                documented = option.get(field, False if field == "required" else None)
                assert documented == spec[name].get(field, False if field == "required" else None), (name, field)
            if "suboptions" in option or "options" in spec[name]:
                compare(option["suboptions"], spec[name]["options"])

    compare(yaml.safe_load(probe.DOCUMENTATION)["options"], probe.argument_spec())


def test_argument_spec_is_the_one_main_uses(monkeypatch):
    specs = []

    class SpyModule(basic.AnsibleModule):
        def __init__(self, argument_spec, **kwargs):
            specs.append((argument_spec, kwargs))
            raise SystemExit(0)

    monkeypatch.setattr(probe, "AnsibleModule", SpyModule)
    with pytest.raises(SystemExit):
        probe.main()
    assert specs[0][0] == probe.argument_spec()
    assert specs[0][1]["supports_check_mode"] is True


def test_kind_choices_are_the_catalog_kinds():
    assert probe.KINDS == list(probe_utils.catalog.KINDS)
    assert sorted(probe.KINDS) == sorted(probe_utils.SMOKE_TESTS) == sorted(probe_utils.READY_TIMEOUTS)


def test_documented_kind_choices_are_the_catalog_kinds():
    """DOCUMENTATION cannot read the catalog, so it lists the kinds itself: in the catalog's order, for both options."""
    options = yaml.safe_load(probe.DOCUMENTATION)["options"]
    assert options["kind"]["choices"] == list(probe_utils.catalog.KINDS)
    assert options["targets"]["suboptions"]["kind"]["choices"] == list(probe_utils.catalog.KINDS)


def test_documented_ready_timeouts_are_the_catalog_ones():
    text = " ".join(" ".join(yaml.safe_load(probe.DOCUMENTATION)["options"]["ready_timeout"]["description"]).split())
    by_timeout = {}
    for kind in probe_utils.catalog.KINDS:
        by_timeout.setdefault(probe_utils.catalog.ready_timeout(kind), []).append("V(%s)" % kind)
    for timeout, kinds in by_timeout.items():
        assert "V(%d) for %s and %s," % (timeout, ", ".join(kinds[:-1]), kinds[-1]) in text
    assert "V(%d) without O(kind)" % probe_utils.DEFAULT_READY_TIMEOUT in text


GAVE_UP = (503, {}, {"service": "speechtotext", "ready": "notready",
                     "message": "Billing endpoint could not be reached after 10 retries; the container no longer serves requests."})


def test_billing_check_stops_waiting_for_a_container_that_gave_up_and_asks_the_billing_endpoint_once(
        container, second_container, run_module, sleeps):
    container.script(**{"/ready": [GAVE_UP], "/status": [status("CouldNotConnect", "Could not connect.", retry_after="60")]})
    second_container.script(**{"/": [(404, {}, b"no such page")]})  # the billing endpoint answers
    result = run_module({"targets": [{"name": "speech-stt-1", "url": container.url, "kind": "speech-to-text"}],
                         "billing_check": True, "billing_endpoint": second_container.url + "/", "status_timeout": 0})
    [entry] = result["results"]
    assert (entry["ready"], entry["api_status"], entry["failed"]) == (False, "CouldNotConnect", True)
    assert entry["waited_seconds"] == 0.0 and sleeps == []
    assert "is not ready and its billing endpoint cannot be reached" in entry["msg"] and "10 retries" in entry["msg"]
    assert result["billing"] == {"endpoint": second_container.url + "/", "reachable": True, "answer": "HTTP 404: no such page"}
    assert [request[1] for request in second_container.requests] == ["/"]


def test_no_secret_a_container_or_the_billing_endpoint_answers_goes_into_the_result(container, second_container, run_module):
    billing = second_container.url.replace("http://", "http://billing:Bill1ng-Pw@") + "/"
    leaky = ("Submitting metering to '%s'. HTTP_PROXY=http://proxyuser:Pr0xy-Pw@proxy:3128 ApiKey=0f3c9a7b "
             "Authorization: Basic dXNlcjpwYXNz" % billing)
    container.script(**{"/ready": [(503, {}, leaky.encode())],
                        "/status": [status("CouldNotConnect", leaky, retry_after="60")]})
    second_container.script(**{"/": [(404, {}, leaky.encode())]})
    result = run_module({"targets": [{"name": "speech-stt-1", "url": container.url, "kind": "speech-to-text"}],
                         "billing_check": True, "billing_endpoint": billing, "status_timeout": 0, "ready_timeout": 0})
    shown = json.dumps({key: value for key, value in result.items() if key != "invocation"})
    assert "Bill1ng-Pw" not in shown and "Pr0xy-Pw" not in shown and "0f3c9a7b" not in shown and "dXNlcjpwYXNz" not in shown
    assert "billing:<masked>@" in shown and "ApiKey=<masked>" in shown and "Authorization: Basic <masked>" in shown
    # the endpoint is asked without its user:password
    assert result["billing"]["reachable"] is True and [request[1] for request in second_container.requests] == ["/"]


def test_billing_check_reports_an_endpoint_that_does_not_answer(container, run_module):
    container.script(**{"/ready": [GAVE_UP], "/status": [status("CouldNotConnect", "Could not connect.")]})
    closed = serve_container()
    unused = next(closed)
    url = unused.url
    next(closed, None)  # shut down: nothing listens on that port any more
    result = run_module({"targets": [{"name": "c", "url": container.url}], "billing_check": True,
                         "billing_endpoint": url, "status_timeout": 0})
    assert result["billing"]["reachable"] is False
    assert result["billing"]["answer"].startswith("no answer (")


def test_billing_check_sends_nothing_more_while_every_container_is_ready(container, second_container, run_module):
    container.script(**{"/ready": [READY], "/status": [status("Valid")]})
    result = run_module({"targets": [{"name": "c", "url": container.url}], "billing_check": True,
                         "billing_endpoint": second_container.url, "status_timeout": 0})
    assert result.get("failed") is not True and result["billing"] is None
    assert second_container.requests == []
    assert [request[1] for request in container.requests] == ["/ready", "/status"]


def test_billing_check_keeps_waiting_for_a_container_whose_billing_is_fine(container, run_module, sleeps):
    container.script(**{"/ready": [NOT_READY, NOT_READY, READY], "/status": [status("Valid")]})
    result = run_module({"url": container.url, "kind": "speech-to-text", "billing_check": True, "interval": 2})
    assert result.get("failed") is not True, result.get("msg")
    assert result["ready"] is True and sleeps == [2.0, 2.0]
    # /status once when /ready first said no, once after it said yes
    assert [request[1] for request in container.requests] == ["/ready", "/status", "/ready", "/ready", "/status"]
