# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Closed-loop load with Microsoft's real Speech SDK (and a plain REST client) as production clients use them.

Every client is a thread that sends its next request as soon as the previous one ended: no pause, also not
after a failure. Workload kinds:

- ``tts_rest``: POST SSML to ``<http url>/cognitiveservices/v1`` (``X-Microsoft-OutputFormat:
  riff-16khz-16bit-mono-pcm``) on one keep-alive connection per client (http.client). Ok: 200 and a RIFF/WAVE
  body of 16 kHz 16-bit mono PCM with data, as long as its header says. Like urllib3, a pooled connection the
  server closed while idle is replaced before use, and a request that went out on a reused connection the server
  closed before answering a byte is sent once more on a new one (counted as ``retried``, not failed).
- ``tts_sdk``: one ``SpeechSynthesizer(SpeechConfig(host=<http url>))`` per client (the SDK keeps its WebSocket
  between calls), ``speak_ssml_async``. Ok: ``SynthesizingAudioCompleted`` with PCM after the SDK's header.
- ``stt_once``: a new ``SpeechRecognizer(SpeechConfig(host=<ws url>), AudioConfig(filename=<wav>))`` per request,
  ``recognize_once_async``. Ok: ``RecognizedSpeech`` (and the text equals ``expect`` when given).
- ``stt_continuous``: continuous recognition of the WAV to its end (``session_stopped``). Ok: at least one
  ``RecognizedSpeech`` (``expect``, when given, among them) and no cancellation with an error.
- ``lid``: ``SourceLanguageRecognizer`` with ``AutoDetectSourceLanguageConfig(languages)`` against the language
  identification container (``host=<ws url>``), ``recognize_once_async``. Ok: a language was detected (equal to
  ``expect`` when given).

A workload with a ``client_key`` (``ClientKey``) sends it to a load balancer that authenticates its clients
(``speech_lb_auth: keys``): REST in the ``Ocp-Apim-Subscription-Key`` header, the SDK as
``SpeechConfig(host=..., subscription=key)`` (the same header on the WebSocket upgrade); with ``bearer=True`` as
``Authorization: Bearer <key>`` (REST) and the SDK's ``authorization_token``. The key is read at each request, so a
rotation moves running clients over by setting ``client_key.key``; a synthesizer opened with the old key is made anew.
A workload with ``trusted_pem`` (an https/wss URL) trusts only that certificate: REST through an SSL context made from
it, the SDK through its ``OPENSSL_SINGLE_TRUSTED_CERT`` property (no revocation check: a private CA names no list).

Failures are counted by reason (``classify_*``): ``lb_503`` (HTTP 503, or the SDK's "WebSocket upgrade failed:
Service unavailable (503)"), ``refused`` (nothing listens), ``connect`` (no connection otherwise),
``disconnected`` (the connection broke mid-request), ``timeout``, ``throttled`` (429), ``server_error`` (other
5xx, SDK service/runtime errors), ``rejected`` (other 4xx, authentication), ``bad_result`` (an answer that is not
what was asked for), ``client_error`` (an exception in this client).

Bounds: a request longer than the workload's ``timeout`` is aborted (REST: socket timeout; SDK: a watchdog stops
the synthesis; recognition is stopped and released) and counted as ``timeout``. ``stop()`` lets requests in
flight finish for ``grace`` seconds, aborts the rest (counted as ``cancelled``, not failed) and joins every
client within ``stop_timeout``; the SDK can take about 10 s to release a recognizer whose server never answers.
SDK objects are released by the thread that made them.

    load = SdkLoad([Workload("tts", kind="tts_rest", url="http://10.0.0.5:6100", clients=4)]).start()
    assert load.wait_ready(60)
    report = load.stop()

Report: ``{"workloads": {name: {kind, clients, sent, ok, failed, cancelled, retried, failed_by_reason, examples
(reason: the first failure's detail), p50_ms, p99_ms, max_ms, rps, seconds}}, "totals": {sent, ok, failed},
"failures": [first 200 {time, workload, reason, detail}], "stuck_clients": n}``. Latencies are of ok requests (nearest rank); rps counts ended requests.
"""
from __future__ import annotations

import dataclasses
import datetime
import errno
import http.client
import math
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape, quoteattr

KINDS = ("tts_rest", "tts_sdk", "stt_once", "stt_continuous", "lid")
REASONS = ("lb_503", "refused", "connect", "disconnected", "timeout", "throttled", "server_error", "rejected",
           "bad_result", "client_error")
TTS_PATH = "/cognitiveservices/v1"
TTS_FORMAT = "riff-16khz-16bit-mono-pcm"
SAMPLE_RATE = 16000
SDK_WAV_HEADER = 46  # the RIFF header the SDK puts before synthesized PCM
MAX_FAILURES = 200
WEATHER = "What's the weather like?"


@dataclasses.dataclass
class ClientKey:
    """The key a workload's clients send to the load balancer, read at each request (a rotation changes it)."""
    key: str
    bearer: bool = False

    def headers(self):
        return {"Authorization": "Bearer " + self.key} if self.bearer else {"Ocp-Apim-Subscription-Key": self.key}


@dataclasses.dataclass
class Workload:
    name: str
    kind: str
    url: str
    clients: int = 1
    voice: str = "en-US-AriaNeural"
    text: str = WEATHER
    audio: str | None = None
    language: str = "en-US"
    expect: str | None = None
    languages: tuple = ("en-US", "de-DE")
    timeout: float = 30.0
    client_key: ClientKey | None = None
    trusted_pem: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError("workload %s: kind must be one of %s, got %r" % (self.name, ", ".join(KINDS), self.kind))
        if self.clients < 1:
            raise ValueError("workload %s: clients must be at least 1" % self.name)
        if self.kind in ("stt_once", "stt_continuous", "lid") and not self.audio:
            raise ValueError("workload %s: %s needs audio (a 16 kHz 16-bit mono WAV file)" % (self.name, self.kind))
        wanted = ("http", "https") if self.kind.startswith("tts") else ("ws", "wss", "http", "https")
        if urllib.parse.urlsplit(self.url).scheme not in wanted:
            raise ValueError("workload %s: %s needs a %s URL, got %r" % (self.name, self.kind, "/".join(wanted), self.url))


@dataclasses.dataclass
class Outcome:
    reason: str | None  # None: ok
    detail: str = ""


# ----- pure parts ---------------------------------------------------------------------------------------------

def percentile(values, p):
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


def ssml(voice, text):
    return ("<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang=%s><voice name=%s>%s</voice>"
            "</speak>" % (quoteattr(voice[:5]), quoteattr(voice), escape(text)))


def check_pcm_wav(body, rate=SAMPLE_RATE):
    """None when body is a RIFF/WAVE file of `rate` Hz 16-bit mono PCM with data, else what is wrong."""
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return "not RIFF/WAVE: %r" % body[:40]
    offset, fmt = 12, None
    while offset + 8 <= len(body):
        chunk, size = body[offset:offset + 4], struct.unpack("<I", body[offset + 4:offset + 8])[0]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[offset + 8:offset + 24])
        elif chunk == b"data":
            if fmt is None:
                return "no fmt chunk before the data"
            if (fmt[0], fmt[1], fmt[2], fmt[5]) != (1, 1, rate, 16):
                return "not %d Hz 16-bit mono PCM: format %d, %d channel(s), %d Hz, %d bit" % (
                    rate, fmt[0], fmt[1], fmt[2], fmt[5])
            available = len(body) - offset - 8
            if available == 0:
                return "no PCM data"
            if size not in (0, 0xFFFFFFFF) and available < size:
                return "truncated: %d of %d data bytes" % (available, size)
            return None
        offset += 8 + size + (size & 1)
    return "no data chunk"


def classify_http(status, body=b""):
    """The failure reason of a REST answer that is not 200."""
    if status == 503:
        return "lb_503"
    if status == 429:
        return "throttled"
    if status == 504:
        return "timeout"
    if status >= 500:
        return "server_error"
    return "rejected"


def classify_exception(error):
    """The failure reason of an exception raised by a REST request."""
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    if isinstance(error, (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError,
                          BrokenPipeError, ConnectionAbortedError)):
        return "disconnected"
    if isinstance(error, (socket.gaierror, OSError)):
        return "connect"
    return "client_error"


def classify_cancellation(code, details):
    """The failure reason of an SDK cancellation: code is the CancellationErrorCode's name, details its text.
    The SDK says "WebSocket upgrade failed: Service unavailable (503)" (code ServiceUnavailable) when the upgrade
    got a 503, and "WS_OPEN_ERROR_UNDERLYING_IO_OPEN_FAILED (code=111 ...)" when nothing listens."""
    details = details or ""
    if code == "ServiceUnavailable" or "(503)" in details:
        return "lb_503"
    if code == "TooManyRequests":
        return "throttled"
    if code == "ServiceTimeout" or "Timeout" in details:
        return "timeout"
    if code == "ConnectionFailure":
        if "code=111" in details or "Connection refused" in details:
            return "refused"
        if "WS_OPEN_ERROR" in details or "upgrade failed" in details.lower():
            return "connect"
        return "disconnected"
    if code in ("AuthenticationFailure", "Forbidden", "BadRequest"):
        return "rejected"
    return "server_error"


def summarize(stats, now):
    """A workload's report entry from its running counters."""
    latencies = stats["latencies"]
    seconds = max(1e-9, (stats["ended"] or now) - stats["started"]) if stats["started"] else 0.0
    done = stats["ok"] + stats["failed"]
    return {
        "kind": stats["kind"], "clients": stats["clients"], "sent": stats["sent"], "ok": stats["ok"],
        "failed": stats["failed"], "cancelled": stats["cancelled"], "retried": stats["retried"],
        "failed_by_reason": dict(sorted(stats["failed_by_reason"].items())), "examples": dict(stats["examples"]),
        "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(max(latencies) if latencies else None),
        "rps": round(done / seconds, 2) if seconds else 0.0, "seconds": round(seconds, 1),
    }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000.0, 1)


# ----- audio --------------------------------------------------------------------------------------------------

def pcm_of_wav(body):
    """The PCM samples of a 16 kHz mono WAV file's data chunk."""
    problem = check_pcm_wav(body)
    if problem:
        raise ValueError(problem)
    start = body.index(b"data") + 8
    return body[start:]


def wav_bytes(pcm, rate=SAMPLE_RATE):
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


def synthesize_wav(url, voice, text, path, pause=0.8, timeout=30, client_key=None, trusted_pem=None):
    """Write a 16 kHz WAV of `text` (or of a list of phrases, `pause` seconds of silence between them), made once
    by the TTS endpoint at `url` over REST (with client_key, a ClientKey, for a load balancer that asks for one, and
    trusted_pem, the one certificate an https URL is trusted with). Returns path."""
    phrases = [text] if isinstance(text, str) else list(text)
    pcm = b""
    for number, phrase in enumerate(phrases):
        status, body = _post_ssml(url, voice, phrase, timeout, client_key, trusted_pem)
        if status != 200:
            raise RuntimeError("synthesizing %r at %s: HTTP %d %r" % (phrase, url, status, body[:200]))
        pcm += (bytes(2 * int(pause * SAMPLE_RATE)) if number else b"") + pcm_of_wav(body)
    with open(path, "wb") as handle:
        handle.write(wav_bytes(pcm))
    return str(path)


def _post_ssml(url, voice, text, timeout, client_key=None, trusted_pem=None):
    connection = _connection(url, timeout, trusted_pem)
    try:
        connection.request("POST", _base_path(url) + TTS_PATH, ssml(voice, text).encode("utf-8"), _tts_headers(client_key))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _connection(url, timeout, trusted_pem=None):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    context = ssl.create_default_context(cadata=trusted_pem) if trusted_pem else None
    return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)


def _base_path(url):
    return urllib.parse.urlsplit(url).path.rstrip("/")


def _tts_headers(client_key=None):
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": TTS_FORMAT,
               "User-Agent": "speechops-sdk-load"}
    return dict(headers, **client_key.headers()) if client_key is not None else headers


def _speech_config(sdk, workload):
    """SpeechConfig(host=url), with the workload's client key as the SDK sends one (subscription or token) and the
    one certificate it trusts."""
    client_key = workload.client_key
    if client_key is not None and not client_key.bearer:
        config = sdk.SpeechConfig(host=workload.url, subscription=client_key.key)
    else:
        config = sdk.SpeechConfig(host=workload.url)
    if client_key is not None and client_key.bearer:
        config.authorization_token = client_key.key
    if workload.trusted_pem:
        config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT", workload.trusted_pem)
        config.set_property_by_name("OPENSSL_SINGLE_TRUSTED_CERT_CRL_CHECK", "false")
    return config


# ----- clients --------------------------------------------------------------------------------------------------

class _Client:
    """One closed-loop client: request() runs one request in the client's thread and returns an Outcome;
    abort() (any thread) makes a request in flight return soon; close() releases what the client holds."""

    def __init__(self, workload):
        self.workload = workload
        self.in_flight_since = None
        self.abort_reason = None  # "timeout" or "cancelled" once the request in flight was aborted

    def request(self):
        raise NotImplementedError

    def abort(self):
        pass

    def close(self):
        pass


class _RestClient(_Client):
    def __init__(self, workload):
        super().__init__(workload)
        self.connection = None
        self.body = ssml(workload.voice, workload.text).encode("utf-8")
        self.path = _base_path(workload.url) + TTS_PATH
        self.retried = 0

    def _dropped(self):
        readable, _w, _x = select.select([self.connection.sock], [], [], 0)
        return bool(readable)  # an idle keep-alive connection is readable only when the server closed it

    def request(self):
        if self.connection is not None and self.connection.sock is not None and self._dropped():
            self.close()
        if self.connection is None:
            self.connection = _connection(self.workload.url, self.workload.timeout, self.workload.trusted_pem)
        reused = self.connection.sock is not None
        try:
            return self._send()
        except (http.client.RemoteDisconnected, BrokenPipeError) as error:
            if not reused or self.abort_reason:
                return self._failed(error)
            self.retried += 1
            self.close()
            self.connection = _connection(self.workload.url, self.workload.timeout, self.workload.trusted_pem)
            try:
                return self._send()
            except Exception as second:  # pylint: disable=broad-except
                return self._failed(second)
        except Exception as error:  # pylint: disable=broad-except
            return self._failed(error)

    def _send(self):
        self.connection.request("POST", self.path, self.body, _tts_headers(self.workload.client_key))
        response = self.connection.getresponse()
        body = response.read()
        if response.will_close:
            self.close()
        if response.status != 200:
            return Outcome(classify_http(response.status, body),
                           "HTTP %d %s" % (response.status, body[:160].decode("utf-8", "replace")))
        problem = check_pcm_wav(body)
        return Outcome("bad_result", problem) if problem else Outcome(None)

    def _failed(self, error):
        self.close()
        return Outcome(classify_exception(error), "%s: %s" % (type(error).__name__, error))

    def abort(self):
        connection = self.connection
        sock = connection.sock if connection is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _sdk():
    import azure.cognitiveservices.speech as speechsdk  # pylint: disable=import-outside-toplevel
    return speechsdk


def _cancellation_outcome(result, sdk):
    details = result.cancellation_details
    code = getattr(details, "code", None) or getattr(details, "error_code", None)
    text = details.error_details or str(details.reason)
    return Outcome(classify_cancellation(getattr(code, "name", str(code)), text), text[:300])


class _SynthesisClient(_Client):
    """The synthesizer is kept between requests (its WebSocket too) and made anew after a failure. No event
    callbacks: with synthesis callbacks connected the SDK can abort the process at exit."""

    def __init__(self, workload):
        super().__init__(workload)
        self.sdk = _sdk()
        self.synthesizer = None
        self.key_in_use = None
        self.ssml = ssml(workload.voice, workload.text)

    def _current_key(self):
        return self.workload.client_key.key if self.workload.client_key is not None else None

    def request(self):
        sdk = self.sdk
        if self.synthesizer is not None and self.key_in_use != self._current_key():
            self.close()  # its WebSocket was opened with the key before a rotation
        if self.synthesizer is None:
            self.key_in_use = self._current_key()
            config = _speech_config(sdk, self.workload)
            config.speech_synthesis_voice_name = self.workload.voice
            config.set_speech_synthesis_output_format(sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
            self.synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        result = self.synthesizer.speak_ssml_async(self.ssml).get()
        if result.reason == sdk.ResultReason.SynthesizingAudioCompleted:
            audio = bytes(result.audio_data)
            if len(audio) > SDK_WAV_HEADER and audio[:4] == b"RIFF":
                return Outcome(None)
            outcome = Outcome("bad_result", "%d bytes of audio" % len(audio))
        elif result.reason == sdk.ResultReason.Canceled:
            outcome = _cancellation_outcome(result, sdk)
        else:
            outcome = Outcome("bad_result", str(result.reason))
        self.close()
        return outcome

    def abort(self):
        synthesizer = self.synthesizer
        if synthesizer is not None:
            synthesizer.stop_speaking_async()

    def close(self):
        self.synthesizer = None  # the last reference: the native synthesizer is released here


class _RecognitionClient(_Client):
    """A new recognizer per request (a file audio config is read once). Results come by event, so the client
    thread can wait with a deadline and stop the recognition when it is aborted."""

    def __init__(self, workload):
        super().__init__(workload)
        self.sdk = _sdk()
        self.abort_event = threading.Event()

    def _recognizer(self):
        sdk, workload = self.sdk, self.workload
        config = _speech_config(sdk, workload)
        audio = sdk.audio.AudioConfig(filename=workload.audio)
        if workload.kind == "lid":
            auto = sdk.languageconfig.AutoDetectSourceLanguageConfig(languages=list(workload.languages))
            return sdk.SourceLanguageRecognizer(speech_config=config, auto_detect_source_language_config=auto,
                                                audio_config=audio)
        config.speech_recognition_language = workload.language
        return sdk.SpeechRecognizer(speech_config=config, audio_config=audio)

    def request(self):
        self.abort_event.clear()
        recognizer = self._recognizer()
        events = {"recognized": [], "canceled": [], "stopped": threading.Event()}
        done = events["stopped"]
        continuous = self.workload.kind == "stt_continuous"

        def recognized(event):
            events["recognized"].append(event.result)
            if not continuous:
                done.set()

        def canceled(event):
            events["canceled"].append(event.result)
            if event.result.cancellation_details.reason == self.sdk.CancellationReason.Error:
                done.set()

        recognizer.recognized.connect(recognized)
        recognizer.canceled.connect(canceled)
        recognizer.session_stopped.connect(lambda event: done.set())
        try:
            if continuous:
                recognizer.start_continuous_recognition_async().get()
            else:
                future = recognizer.recognize_once_async()
            while not done.is_set() and not self.abort_event.is_set():
                done.wait(0.05)
            if self.abort_event.is_set():
                recognizer.stop_continuous_recognition_async()
                return Outcome("timeout", "aborted")
            if continuous:
                recognizer.stop_continuous_recognition_async().get()
            else:
                future.get()
            return self._judge(events["recognized"], events["canceled"])
        finally:
            for signal in (recognizer.recognized, recognizer.canceled, recognizer.session_stopped):
                signal.disconnect_all()
            future = None
            del recognizer  # released in the thread that made it; can take ~10 s if the server never answered

    def _judge(self, recognized, canceled):
        sdk, workload = self.sdk, self.workload
        errors = [result for result in canceled if result.cancellation_details.reason == sdk.CancellationReason.Error]
        if errors:
            return _cancellation_outcome(errors[0], sdk)
        speech = [result for result in recognized if result.reason == sdk.ResultReason.RecognizedSpeech]
        if not speech:
            return Outcome("bad_result", "nothing recognized (%s)" % ", ".join(str(r.reason) for r in recognized))
        if workload.kind == "lid":
            language = sdk.AutoDetectSourceLanguageResult(speech[0]).language
            if not language or (workload.expect and language != workload.expect):
                return Outcome("bad_result", "detected language %r" % language)
            return Outcome(None)
        texts = [result.text for result in speech]
        if workload.expect and workload.expect not in texts:
            return Outcome("bad_result", "heard %r" % texts)
        return Outcome(None)

    def abort(self):
        self.abort_event.set()


CLIENTS = {"tts_rest": _RestClient, "tts_sdk": _SynthesisClient, "stt_once": _RecognitionClient,
           "stt_continuous": _RecognitionClient, "lid": _RecognitionClient}


# ----- the load -------------------------------------------------------------------------------------------------

class SdkLoad:
    def __init__(self, workloads, grace=10.0, stop_timeout=30.0):
        names = [workload.name for workload in workloads]
        if not workloads or len(set(names)) != len(names):
            raise ValueError("workloads need distinct names, got %r" % names)
        self.workloads = list(workloads)
        self.grace, self.stop_timeout = grace, stop_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._aborting = False
        self._threads, self._clients = [], []
        self._watchdog = None
        self._stats = {w.name: {"kind": w.kind, "clients": w.clients, "sent": 0, "ok": 0, "failed": 0, "cancelled": 0,
                                "retried": 0, "failed_by_reason": {}, "examples": {}, "latencies": [],
                                "started": None, "ended": None}
                       for w in self.workloads}
        self._failures = []
        self._ready = threading.Event()
        self._report = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self._threads:
            raise RuntimeError("this load was started already")
        now = time.monotonic()
        for workload in self.workloads:
            self._stats[workload.name]["started"] = now
            for number in range(workload.clients):
                client = CLIENTS[workload.kind](workload)
                thread = threading.Thread(target=self._run, args=(client,), daemon=True,
                                          name="sdk-load-%s-%d" % (workload.name, number))
                self._clients.append(client)
                self._threads.append(thread)
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name="sdk-load-watchdog")
        self._watchdog.start()
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, client):
        name = client.workload.name
        try:
            while not self._stopping.is_set():
                with self._lock:
                    self._stats[name]["sent"] += 1
                started = time.monotonic()
                client.abort_reason = None
                client.in_flight_since = started
                try:
                    outcome = client.request()
                except Exception as error:  # pylint: disable=broad-except
                    client.close()
                    outcome = Outcome("client_error", "%s: %s" % (type(error).__name__, error))
                client.in_flight_since = None
                self._record(client, outcome, time.monotonic() - started)
        finally:
            client.close()

    def _record(self, client, outcome, seconds):
        workload = client.workload
        if client.abort_reason == "timeout" and outcome.reason is not None:
            outcome = Outcome("timeout", "no answer within %.0f s (%s)" % (workload.timeout, outcome.detail[:200]))
        with self._lock:
            stats = self._stats[workload.name]
            stats["retried"] = sum(getattr(c, "retried", 0) for c in self._clients if c.workload is workload)
            if client.abort_reason == "cancelled" and outcome.reason is not None:
                stats["cancelled"] += 1
            elif outcome.reason is None:
                stats["ok"] += 1
                stats["latencies"].append(seconds)
                if all(s["ok"] for s in self._stats.values()):
                    self._ready.set()
            else:
                stats["failed"] += 1
                stats["failed_by_reason"][outcome.reason] = stats["failed_by_reason"].get(outcome.reason, 0) + 1
                stats["examples"].setdefault(outcome.reason, outcome.detail)
                if len(self._failures) < MAX_FAILURES:
                    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
                    self._failures.append({"time": now, "workload": workload.name, "reason": outcome.reason,
                                           "detail": outcome.detail})

    def _watch(self):
        """Aborts requests in flight longer than their timeout, and all of them once stop() gave up waiting."""
        while any(thread.is_alive() for thread in self._threads) or not self._stopping.is_set():
            now = time.monotonic()
            for client in self._clients:
                since = client.in_flight_since
                if since is None or client.abort_reason is not None:
                    continue
                if self._aborting:
                    client.abort_reason = "cancelled"
                elif now - since > client.workload.timeout:
                    client.abort_reason = "timeout"
                else:
                    continue
                try:
                    client.abort()
                except Exception:  # pylint: disable=broad-except
                    pass
            time.sleep(0.1)

    def wait_ready(self, timeout):
        """True once every workload had an ok request."""
        return self._ready.wait(timeout)

    def report(self):
        """A snapshot of the counters (the final report once stopped)."""
        if self._report is not None:
            return self._report
        now = time.monotonic()
        with self._lock:
            workloads = {name: summarize(stats, now) for name, stats in self._stats.items()}
            failures = list(self._failures)
        totals = {key: sum(w[key] for w in workloads.values()) for key in ("sent", "ok", "failed")}
        stuck = sum(1 for thread in self._threads if thread.is_alive()) if self._stopping.is_set() else 0
        return {"workloads": workloads, "totals": totals, "failures": failures, "stuck_clients": stuck}

    def stop(self, grace=None):
        """Stops new requests, lets those in flight end for `grace` s, aborts the rest; joins every client
        within stop_timeout in all. Returns the report."""
        if self._report is not None:
            return self._report
        grace = self.grace if grace is None else grace
        self._stopping.set()
        deadline = time.monotonic() + self.stop_timeout
        grace_ends = min(deadline, time.monotonic() + grace)
        for thread in self._threads:
            thread.join(max(0.0, grace_ends - time.monotonic()))
        self._aborting = True
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for stats in self._stats.values():
            stats["ended"] = now
        if self._watchdog is not None:
            self._watchdog.join(max(0.0, deadline - time.monotonic()) + 0.5)
        self._report = self.report()
        return self._report
