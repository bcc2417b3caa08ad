"""Load for zero-downtime rollout tests: TTS requests and STT sessions, every failure counted with a reason.

Workloads (each optional):

- ``tts``: ``tts_workers`` workers, each POSTing SSML to ``<tts_url>/cognitiveservices/v1`` in a loop
  (``riff-16khz-16bit-mono-pcm``). A request is ok when the answer is 200 and a RIFF/WAVE body of 16 kHz
  16-bit mono PCM with a nonzero data chunk, not shorter than its header says.
  Connections: one keep-alive connection per worker by default (``keep_alive=False``: a fresh one per
  request). A server may close an idle keep-alive connection just as the next request goes out; a real
  client then retries once on a new connection. So does this one, ONLY when the request went out on a
  reused pooled connection and the server closed it before answering a single byte (aiohttp's
  ServerDisconnectedError without a partial response). Such retries are counted (``retried``) and are not
  failures; everything else (reset, refused, timeout, a cut-off answer, a retry that fails too) is a failure.
- ``stt``: ``stt_sessions`` session holders, each opening one WebSocket after the other to
  ``<stt_url>/speech/recognition/conversation/cognitiveservices/v1?language=...`` and speaking the Speech
  SDK's USP protocol: speech.config, speech.context, the audio in real time (100 ms chunks, a RIFF header
  with zero sizes in the first one, the utterance looped with 0.5 s pauses, so the recognizer finds several
  phrases), a zero-length audio message (end of stream), then it waits for turn.end and closes (1000). As in
  the native SDK, server messages count only with header names spelled exactly ``Path`` and
  ``X-RequestId`` and the turn's request id. A session is ok when the handshake gave 101, turn.start, at
  least one speech.phrase with RecognitionStatus Success and turn.end arrived, no phrase had an error status
  and the server did not close the connection before turn.end. It fails too when turn.end does not come within
  ``turn_timeout`` after the end of the audio, or a send stays blocked for ``timeout`` (the server stopped
  reading: the emulator does that to open WebSockets once it got SIGTERM).
- ``stt_long``: one session of ``long_session_seconds``, reported apart (``long_session``). With
  ``long_session_may_close`` it is "closed", not failed, when the server ended it early with a WebSocket close
  1000/1001, or by closing the TCP connection (FIN or reset) after at least one phrase.

After a failure a worker or session holder pauses ``failure_pause`` (0.1 s), so a dead target gives a
countable number of failures rather than a busy loop; every attempt is counted.

Audio for the sessions: ``audio_file`` (16 kHz 16-bit mono PCM WAV) or ``audio_text`` synthesized once at start
by ``audio_tts_url`` (default ``tts_url``).

Stop: ``duration``, ``until_file`` (stops once it exists; refuses to start if it exists already), ``stop()``,
SIGTERM/SIGINT (CLI), or when only a long session was asked for and it ended. Nothing new starts then; TTS
requests in flight finish, sessions end their audio at the next chunk and wait for their results. A session our
stop ended before any phrase, and anything still running after ``grace`` seconds, is "cancelled", never failed.
A long session our stop shortened is "cancelled" too: it did not run its length. A second signal skips the grace.

Ready: ``ready_file`` is written (and ``wait_ready()`` returns) once every workload had its first success
(TTS: an ok response; sessions: a Success phrase).

Report (``stop()``, ``run()``, ``report_file``): per workload sent, ok, failed, cancelled, (sessions) closed and
phrases, (tts) retried, p50/p99/max latency in ms of the ok ones (nearest rank; sessions: connect to turn.end),
failure counts by reason; ``failures``: the first 200 {time, workload, target, reason}; totals.

In a test::

    generator = LoadGenerator(Config(tts_url=..., tts_workers=2, stt_url=..., stt_sessions=2)).start()
    assert generator.wait_ready(30)
    ... roll out ...
    report = generator.stop()
    assert report["totals"]["failed"] == 0 and report["totals"]["ok"] > 0, report["failures"]

CLI: ``python loadgen.py --help``; exit code 0 without failures, 1 with failures, 2 when it could not start.
"""
import argparse
import asyncio
import dataclasses
import datetime
import errno
import json
import logging
import math
import os
import signal
import struct
import sys
import threading
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

import aiohttp

log = logging.getLogger("loadgen")

TTS, STT, STT_LONG = "tts", "stt", "stt_long"
TTS_PATH = "/cognitiveservices/v1"
TTS_FORMAT = "riff-16khz-16bit-mono-pcm"
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
RATE = 16000
BYTES_PER_SECOND = RATE * 2
CHUNK_SECONDS = 0.1
PAUSE_SECONDS = 0.5
CLEAN_CLOSE_CODES = (1000, 1001)
NON_ERROR_STATUSES = ("Success", "NoMatch", "InitialSilenceTimeout", "BabbleTimeout", "EndOfDictation")
MAX_FAILURES_LISTED = 200
MAX_REASONS = 50


class LoadGenError(Exception):
    """Bad configuration, or no audio for the sessions: no load was started."""


@dataclasses.dataclass
class Config:
    tts_url: str = ""
    tts_workers: int = 1
    voice: str = "en-US-AriaNeural"
    tts_text: str = "The quick brown fox jumps over the lazy dog."
    tts_pause: float = 0.0
    keep_alive: bool = True
    stt_url: str = ""
    stt_sessions: int = 1
    session_seconds: float = 8.0
    language: str = "en-US"
    audio_file: str = ""
    audio_tts_url: str = ""
    audio_voice: str = ""
    audio_text: str = "Turn on the lights in the kitchen."
    long_session_seconds: float = 0.0
    long_session_may_close: bool = False
    duration: float = 0.0
    until_file: str = ""
    ready_file: str = ""
    report_file: str = ""
    timeout: float = 10.0
    turn_timeout: float = 10.0
    grace: float = 10.0
    failure_pause: float = 0.1

    def workloads(self):
        """{workload: target URL} of the workloads this configuration runs."""
        targets = {}
        if self.tts_url and self.tts_workers > 0:
            targets[TTS] = self.tts_url.rstrip("/") + TTS_PATH
        stt = f"{websocket_url(self.stt_url)}{STT_PATH}?language={self.language}" if self.stt_url else ""
        if stt and self.stt_sessions > 0:
            targets[STT] = stt
        if stt and self.long_session_seconds > 0:
            targets[STT_LONG] = stt
        return targets

    def check(self):
        if not self.workloads():
            raise LoadGenError("nothing to do: give --tts-url and/or --stt-url with workers/sessions > 0")
        if min(self.session_seconds, self.timeout, self.turn_timeout) <= 0 or min(self.grace, self.tts_pause) < 0:
            raise LoadGenError("session seconds and timeouts must be > 0, grace and pauses >= 0")
        if (STT in self.workloads() or STT_LONG in self.workloads()) and not (
                self.audio_file or self.audio_tts_url or self.tts_url):
            raise LoadGenError("STT sessions need audio: --audio-file or a TTS URL (--audio-tts-url/--tts-url)")


def websocket_url(url):
    url = url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            return secure + url[len(plain):]
    return url


def percentile(values, p):
    """Nearest-rank percentile (0 < p <= 100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ssml(voice, text):
    lang = "-".join(voice.split("-")[:2])
    return (f"<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang={quoteattr(lang)}>"
            f"<voice name={quoteattr(voice)}>{escape(text)}</voice></speak>")


# ----- audio ----------------------------------------------------------------------------------------

def wav_header(data_size=0, rate=RATE):
    """44-byte RIFF header of 16-bit mono PCM; sizes 0 as the Speech SDK writes them for a stream."""
    riff_size = 36 + data_size if data_size else 0
    return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_size))


def parse_wav(data):
    """((format tag, channels, rate, bits), PCM) of a RIFF/WAVE byte string; ValueError says what is wrong."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"not RIFF/WAVE ({len(data)} bytes, starts {data[:4]!r})")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            if size < 16 or pos + 24 > len(data):
                raise ValueError("short fmt chunk")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            available = len(data) - pos - 8
            if size in (0, 0xFFFFFFFF):  # streamed WAV: up to the end
                size = available
            if size > available:
                raise ValueError(f"truncated: data chunk says {size} bytes, {available} arrived")
            return fmt, data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise ValueError("no data chunk")


def check_wav(body):
    """None when `body` is a WAV of 16 kHz 16-bit mono PCM with audio data, else what is wrong."""
    try:
        (tag, channels, rate, bits), pcm = parse_wav(body)
    except ValueError as error:
        return f"bad audio: {error}"
    if (tag, channels, rate, bits) != (1, 1, RATE, 16):
        return f"bad audio: format tag {tag}, {channels} channel(s), {rate} Hz, {bits} bit instead of 16 kHz 16-bit mono PCM"
    if not pcm:
        return "bad audio: no PCM data"
    return None


def audio_chunks(utterance, seconds, chunk_seconds=CHUNK_SECONDS, pause_seconds=PAUSE_SECONDS):
    """`seconds` of PCM in chunks: the utterance, a pause of silence, the utterance, ... (cut at the end)."""
    cycle = utterance + bytes(int(pause_seconds * RATE) * 2)
    total = int(seconds * RATE) * 2
    size = int(chunk_seconds * RATE) * 2
    for start in range(0, total, size):
        end = min(start + size, total)
        chunk = b""
        while len(chunk) < end - start:
            offset = (start + len(chunk)) % len(cycle)
            chunk += cycle[offset:offset + end - start - len(chunk)]
        yield chunk


# ----- USP messages (Speech SDK WebSocket protocol) --------------------------------------------------

def _timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def text_message(path, body, request_id=None, content_type="application/json"):
    lines = [f"X-Timestamp:{_timestamp()}", f"Path:{path}"]
    if request_id:
        lines.append(f"X-RequestId:{request_id}")
    lines.append(f"Content-Type:{content_type}")
    return "\r\n".join(lines) + "\r\n\r\n" + json.dumps(body)


def audio_message(request_id, payload, first=False):
    lines = [f"X-Timestamp:{_timestamp()}", "Path:audio"]
    if first:
        lines.append("Content-Type:audio/x-wav")
    lines += [f"X-RequestId:{request_id}", "X-StreamId:1"]
    header = ("\r\n".join(lines) + "\r\n").encode("ascii")
    return len(header).to_bytes(2, "big") + header + payload


def parse_text_message(data):
    """({header name: value}, body); names kept as sent: the native SDK matches them case-sensitively."""
    head, _separator, body = data.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name] = value.strip()
    return headers, body


# ----- errors and outcomes ---------------------------------------------------------------------------

def describe_error(error, timeout=None):
    """A short reason for a client-side exception."""
    if isinstance(error, aiohttp.WSServerHandshakeError):
        return f"WebSocket handshake: HTTP {error.status}" if error.status != 101 else f"WebSocket handshake: {error.message}"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"name resolution failed: {error.os_error}"
    if isinstance(error, aiohttp.ClientConnectorError):
        if error.os_error.errno == errno.ECONNREFUSED or "refused" in str(error.os_error).lower():
            return "connection refused"
        return f"connect failed: {error.os_error.strerror or error.os_error}"
    if isinstance(error, TimeoutError):
        what = "connect timeout" if isinstance(error, aiohttp.ConnectionTimeoutError) else "timeout"
        return f"{what} after {timeout:g} s" if timeout else what
    if isinstance(error, aiohttp.ServerDisconnectedError):
        if isinstance(error.message, str):
            return "server closed the connection without a response"
        return "server closed the connection in the middle of the response"
    if isinstance(error, aiohttp.ClientPayloadError):
        return f"response body incomplete: {error}"
    if isinstance(error, ConnectionResetError) or getattr(error, "errno", None) == errno.ECONNRESET:
        return "connection reset"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    if isinstance(error, OSError) and error.errno:
        return f"connection error: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


@dataclasses.dataclass
class SessionResult:
    """What happened in one STT session (filled in while it runs)."""
    planned_seconds: float
    long: bool = False
    duration_s: float = 0.0         # connect to turn.end (or to the end of the connection)
    ended_at: float = 0.0
    streamed_s: float = 0.0
    error: str = ""                 # connect/handshake/protocol problem
    turn_started: bool = False
    turn_ended: bool = False
    turn_ended_early: bool = False  # turn.end before our end of audio
    phrases: int = 0
    other_statuses: dict = dataclasses.field(default_factory=dict)
    close_code: int | None = None   # close frame from the server before turn.end
    close_reason: str = ""
    lost: str = ""                  # TCP closed/reset before turn.end: "reset" or "closed"
    turn_timeout: float = 0.0       # set when turn.end did not come in time
    ignored_messages: int = 0
    stopped_early: bool = False     # our stop ended the audio before its planned length
    cancelled: bool = False         # still running at the end of the grace time


def judge_session(result, may_close=False):
    """(outcome, reason, ended): outcome ok | failed | closed | cancelled; reason is '' unless failed."""
    errors = {s: n for s, n in result.other_statuses.items() if s not in NON_ERROR_STATUSES}
    phrases = f"{result.phrases} phrase(s)"
    if result.cancelled:
        return "cancelled", "", f"cancelled at the end of the grace time after {result.duration_s:.1f} s, {phrases}"
    if result.error:
        return "failed", result.error, result.error
    if result.close_code is not None or result.lost:
        if result.close_code is not None:
            how = f"closed by the server with code {result.close_code}" + (
                f" ({result.close_reason})" if result.close_reason else "")
            clean = result.close_code in CLEAN_CLOSE_CODES
        else:
            how = "connection reset by the server" if result.lost == "reset" else \
                "connection closed by the server without a WebSocket close"
            clean = result.phrases > 0
        ended = f"{how} before turn.end after {result.duration_s:.1f} s, {phrases}"
        if result.long and may_close and clean:
            return "closed", "", ended
        return "failed", ended, ended
    if not result.turn_ended:
        ended = f"no turn.end within {result.turn_timeout:g} s after the end of the audio"
        if result.ignored_messages:
            ended += (f" ({result.ignored_messages} message(s) ignored: header names not exactly Path/X-RequestId"
                      " or another request id)")
        return "failed", ended, ended
    ended = f"turn.end after {result.duration_s:.1f} s, {phrases}"
    if errors:
        reason = "recognition status " + ", ".join(f"{s} x{n}" for s, n in sorted(errors.items()))
        return "failed", reason, ended
    if not result.turn_started:
        return "failed", "speech.phrase/turn.end without turn.start", ended
    if result.turn_ended_early:
        return "failed", f"turn.end before the end of the audio ({result.streamed_s:.1f} s streamed)", ended
    if result.stopped_early:
        ended += f", audio ended early by our stop at {result.streamed_s:.1f} s"
        if result.long or not result.phrases:
            return "cancelled", "", ended
    if not result.phrases:
        statuses = ", ".join(sorted(result.other_statuses)) or "no speech.phrase"
        return "failed", f"no recognized phrase ({statuses})", ended
    return "ok", "", ended


# ----- statistics -----------------------------------------------------------------------------------

class _Stats:
    def __init__(self, target):
        self.target = target
        self.sent = self.ok = self.failed = self.cancelled = self.closed = 0
        self.retried = self.phrases = 0
        self.latencies_ms = []
        self.reasons = {}

    def summary(self, workload):
        summary = {"target": self.target, "sent": self.sent, "ok": self.ok, "failed": self.failed,
                   "cancelled": self.cancelled,
                   "in_flight": self.sent - self.ok - self.failed - self.cancelled - self.closed}
        if workload == TTS:
            summary["retried"] = self.retried
        else:
            summary.update(closed=self.closed, phrases=self.phrases)
        for name, p in (("p50_ms", 50), ("p99_ms", 99), ("max_ms", 100)):
            value = percentile(self.latencies_ms, p)
            summary[name] = None if value is None else round(value, 1)
        summary["reasons"] = dict(self.reasons)
        return summary


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _write_atomically(path, text):
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


# ----- the generator --------------------------------------------------------------------------------

class LoadGenerator:
    """start() (background thread) ... stop() -> report, or run() in the foreground."""

    def __init__(self, config):
        config.check()
        self.config = config
        self.targets = config.workloads()
        self._lock = threading.Lock()
        self._stats = {name: _Stats(target) for name, target in self.targets.items()}
        self._failures = []
        self._internal_errors = 0
        self._first_success = set()
        self._ready = threading.Event()
        self._long_done = threading.Event()
        self._long = None
        self._long_outcome = None
        self._utterance = b""
        self._loop = self._stop = self._abort = None
        self._stop_reason = ""
        self._started_at = self._started_wall = None
        self._stopped_wall = None
        self._final_report = None
        self._thread = None
        self._setup_done = threading.Event()
        self._finished = threading.Event()
        self._error = None

    # public API --------------------------------------------------------------------------------

    def start(self):
        """Run in a background thread; returns once the load started (raises LoadGenError if it cannot)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._thread_main, name="loadgen", daemon=True)
        self._thread.start()
        self._setup_done.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def wait_ready(self, timeout=None):
        """True once every workload had a first success (see the module docstring)."""
        return self._ready.wait(timeout)

    def wait_long_session(self, timeout=None):
        """True once the long session ended (however it ended)."""
        return self._long_done.wait(timeout)

    def wait(self, timeout=None):
        """True once the run ended by itself (duration, until_file, only a long session and it ended)."""
        return self._finished.wait(timeout)

    def stop(self, timeout=None):
        """Stop the background run (grace time for what is in flight) and return the report."""
        if self._thread is None:
            raise RuntimeError("not started")
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._request_stop, "stop()")
            except RuntimeError:  # the run already ended and closed its loop
                pass
        self._thread.join(self.config.grace + 30 if timeout is None else timeout)
        if self._thread.is_alive():
            raise RuntimeError("the load generator did not stop in time")
        if self._error is not None:
            raise self._error
        return self._final_report

    def run(self):
        """Run in the foreground until a stop condition (SIGTERM/SIGINT included); returns the report."""
        return asyncio.run(self.run_async(handle_signals=True))

    def report(self):
        """The report so far (the final one once the run ended); safe to call from any thread."""
        if self._final_report is not None:
            return self._final_report
        return self._build_report()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        if self._final_report is None:
            self.stop()

    # run ---------------------------------------------------------------------------------------

    def _thread_main(self):
        try:
            asyncio.run(self.run_async())
        except BaseException as error:  # noqa: BLE001 - handed to the thread that calls start()/stop()
            self._error = error
        finally:
            self._setup_done.set()
            self._finished.set()

    async def run_async(self, handle_signals=False):
        self._loop = asyncio.get_running_loop()
        self._stop, self._abort = asyncio.Event(), asyncio.Event()
        if self.config.until_file and os.path.exists(self.config.until_file):
            raise LoadGenError(f"the until-file {self.config.until_file} exists already (left from an earlier run?)")
        if self.config.ready_file and os.path.exists(self.config.ready_file):
            os.remove(self.config.ready_file)
        if STT in self.targets or STT_LONG in self.targets:
            self._utterance = await self._load_audio()
        self._started_at, self._started_wall = time.monotonic(), _now_iso()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self._request_stop, f"signal {signal.Signals(signum).name}")
        log.info("load: %s", ", ".join(f"{name} -> {target}" for name, target in self.targets.items()))
        self._setup_done.set()
        work = []
        if TTS in self.targets:
            work += [asyncio.create_task(self._tts_worker()) for _worker in range(self.config.tts_workers)]
        if STT in self.targets:
            work += [asyncio.create_task(self._session_holder()) for _session in range(self.config.stt_sessions)]
        if STT_LONG in self.targets:
            work.append(asyncio.create_task(self._long_session()))
        watcher = asyncio.create_task(self._watch())
        try:
            await self._until_stop(work)
            await self._drain(work)
        finally:
            watcher.cancel()
            for task in work:
                task.cancel()
            await asyncio.gather(watcher, *work, return_exceptions=True)
            if handle_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(signum)
        self._stopped_wall = _now_iso()
        report = self._build_report()
        self._final_report = report
        if self.config.report_file:
            _write_atomically(self.config.report_file, json.dumps(report, indent=2) + "\n")
        return report

    async def _until_stop(self, work):
        pending = set(work)
        stop_wait = asyncio.create_task(self._stop.wait())
        while pending and not self._stop.is_set():
            done, pending = await asyncio.wait(pending | {stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stop_wait)
            self._check_tasks(done - {stop_wait})
        stop_wait.cancel()
        self._request_stop("all workloads ended")

    async def _drain(self, work):
        """Let what is in flight finish for up to `grace` seconds (less after a second signal)."""
        pending = {task for task in work if not task.done()}
        abort_wait = asyncio.create_task(self._abort.wait())
        deadline = time.monotonic() + self.config.grace
        while pending and not self._abort.is_set() and time.monotonic() < deadline:
            done, pending = await asyncio.wait(pending | {abort_wait}, timeout=deadline - time.monotonic(),
                                               return_when=asyncio.FIRST_COMPLETED)
            pending.discard(abort_wait)
            self._check_tasks(done - {abort_wait})
        abort_wait.cancel()
        for task in pending:
            task.cancel()
        results = await asyncio.gather(*pending, return_exceptions=True)
        self._check_tasks(set(), [r for r in results if isinstance(r, Exception)])

    def _check_tasks(self, done, errors=()):
        """A worker that died of an exception is a loadgen bug: make it loud and count it."""
        errors = list(errors) + [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
        for error in errors:
            log.error("loadgen worker crashed: %r", error)
            with self._lock:
                self._internal_errors += 1
            self._add_failure("loadgen", "-", f"loadgen internal error: {error!r}")

    def _request_stop(self, reason):
        if self._stop.is_set():
            if reason.startswith("signal"):
                self._abort.set()
            return
        self._stop_reason = reason
        log.info("stopping (%s)", reason)
        self._stop.set()

    async def _watch(self):
        config = self.config
        while not self._stop.is_set():
            if config.duration and time.monotonic() - self._started_at >= config.duration:
                self._request_stop("duration")
            elif config.until_file and os.path.exists(config.until_file):
                self._request_stop("until-file")
            else:
                await self._sleep_unless_stopped(0.2)

    async def _sleep_unless_stopped(self, seconds):
        if seconds > 0:
            try:
                await asyncio.wait_for(self._stop.wait(), seconds)
            except TimeoutError:
                pass

    # recording ---------------------------------------------------------------------------------

    def _begin(self, workload):
        with self._lock:
            self._stats[workload].sent += 1

    def _end(self, workload, outcome, latency_ms=None, reason=""):
        with self._lock:
            stats = self._stats[workload]
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if outcome == "ok" and latency_ms is not None:
                stats.latencies_ms.append(latency_ms)
            if outcome == "failed":
                key = reason if reason in stats.reasons or len(stats.reasons) < MAX_REASONS else "(other reasons)"
                stats.reasons[key] = stats.reasons.get(key, 0) + 1
        if outcome == "failed":
            self._add_failure(workload, self.targets[workload], reason)

    def _add_failure(self, workload, target, reason):
        with self._lock:
            if len(self._failures) < MAX_FAILURES_LISTED:
                self._failures.append({"time": _now_iso(), "workload": workload, "target": target, "reason": reason})
        log.debug("failure %s: %s", workload, reason)

    def _success(self, workload):
        if workload in self._first_success:
            return
        self._first_success.add(workload)
        if self._first_success >= set(self.targets):
            if self.config.ready_file:
                _write_atomically(self.config.ready_file, json.dumps(
                    {"ready_at": _now_iso(), "workloads": sorted(self.targets)}) + "\n")
            log.info("load is flowing: %s", ", ".join(sorted(self.targets)))
            self._ready.set()

    def _build_report(self):
        with self._lock:
            workloads = {name: stats.summary(name) for name, stats in self._stats.items()}
            failures, internal_errors = list(self._failures), self._internal_errors
        totals = {key: sum(w.get(key, 0) for w in workloads.values())
                  for key in ("sent", "ok", "failed", "cancelled", "closed")}
        totals["failed"] += internal_errors
        report = {"started": self._started_wall, "stopped": self._stopped_wall,
                  "duration_s": round(time.monotonic() - self._started_at, 3) if self._started_at else 0.0,
                  "stop_reason": self._stop_reason or None, "ready": self._ready.is_set(),
                  "workloads": workloads, "totals": totals,
                  "failures_total": totals["failed"], "failures": failures}
        if STT_LONG in self.targets:
            report["long_session"] = self._long_report()
        return report

    def _long_report(self):
        result = self._long
        if result is None:
            return {"planned_s": self.config.long_session_seconds, "outcome": "not started"}
        report = {"planned_s": result.planned_seconds, "streamed_s": round(result.streamed_s, 1),
                  "duration_s": round(result.duration_s, 1), "phrases": result.phrases,
                  "close_code": result.close_code, "close_reason": result.close_reason or None}
        if self._long_outcome is None:
            report.update(outcome="running", ended=None, counted_as_failed=False)
        else:
            outcome, reason, ended = self._long_outcome
            report.update(outcome="completed" if outcome == "ok" else outcome, ended=ended,
                          reason=reason or None, counted_as_failed=outcome == "failed")
        return report

    # text-to-speech ----------------------------------------------------------------------------

    async def _tts_worker(self):
        config = self.config
        trace = aiohttp.TraceConfig()
        trace.on_connection_reuseconn.append(_mark_reused)
        connector = aiohttp.TCPConnector(limit=1, force_close=not config.keep_alive)
        async with aiohttp.ClientSession(connector=connector, trace_configs=[trace],
                                         timeout=aiohttp.ClientTimeout(total=config.timeout)) as client:
            while not self._stop.is_set():
                ok = await self._tts_request(client)
                await self._sleep_unless_stopped(config.tts_pause if ok else max(config.tts_pause, config.failure_pause))

    async def _tts_request(self, client):
        self._begin(TTS)
        started = time.monotonic()
        try:
            reason = await self._tts_exchange(client)
        except asyncio.CancelledError:
            self._end(TTS, "cancelled")
            raise
        except Exception as error:  # noqa: BLE001 - every error is a failed request with a reason
            reason = describe_error(error, self.config.timeout)
        if reason:
            self._end(TTS, "failed", reason=reason)
            return False
        self._end(TTS, "ok", (time.monotonic() - started) * 1000)
        self._success(TTS)
        return True

    async def _tts_exchange(self, client):
        """'' when the request succeeded, else the reason."""
        config = self.config
        body = ssml(config.voice, config.tts_text).encode("utf-8")
        headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": TTS_FORMAT,
                   "User-Agent": "speechops-loadgen"}
        retried = ""
        while True:
            connection = {"reused": False}
            try:
                async with client.post(self.targets[TTS], data=body, headers=headers,
                                       trace_request_ctx=connection) as response:
                    answer = await response.read()
            except aiohttp.ServerDisconnectedError as error:
                if not retried and connection["reused"] and isinstance(error.message, str):  # nothing answered
                    retried = " (on the retry after a stale keep-alive connection)"
                    with self._lock:
                        self._stats[TTS].retried += 1
                    continue
                return describe_error(error, config.timeout) + retried
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                return describe_error(error, config.timeout) + retried
            if response.status != 200:
                text = answer.decode("utf-8", errors="replace").strip().splitlines()
                return f"HTTP {response.status}" + (f": {text[0][:120]}" if text else "")
            return check_wav(answer) or ""

    # speech-to-text ----------------------------------------------------------------------------

    async def _load_audio(self):
        config = self.config
        if config.audio_file:
            try:
                with open(config.audio_file, "rb") as handle:
                    data = handle.read()
            except OSError as error:
                raise LoadGenError(f"cannot read the audio file: {error}") from None
            source = config.audio_file
        else:
            url = (config.audio_tts_url or config.tts_url).rstrip("/") + TTS_PATH
            source = url
            headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": TTS_FORMAT}
            body = ssml(config.audio_voice or config.voice, config.audio_text).encode("utf-8")
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=config.timeout)) as client:
                    async with client.post(url, data=body, headers=headers) as response:
                        data = await response.read()
                        if response.status != 200:
                            raise LoadGenError(f"no audio for the STT sessions from {url}: HTTP {response.status} "
                                               f"{data[:200].decode('utf-8', errors='replace')}")
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise LoadGenError(f"no audio for the STT sessions from {url}: {describe_error(error, config.timeout)}") from None
        problem = check_wav(data)
        if problem:
            raise LoadGenError(f"audio from {source}: {problem}")
        return parse_wav(data)[1]

    async def _session_holder(self):
        async with aiohttp.ClientSession() as client:
            while not self._stop.is_set():
                outcome = await self._session(client, STT, self.config.session_seconds)
                if outcome == "failed":
                    await self._sleep_unless_stopped(self.config.failure_pause)

    async def _long_session(self):
        try:
            async with aiohttp.ClientSession() as client:
                await self._session(client, STT_LONG, self.config.long_session_seconds)
        finally:
            self._long_done.set()

    async def _session(self, client, workload, seconds):
        """One recognition session, recorded; returns its outcome."""
        result = SessionResult(planned_seconds=seconds, long=workload == STT_LONG)
        if result.long:
            self._long = result
        self._begin(workload)
        started = time.monotonic()
        try:
            await self._converse(client, workload, result)
        except asyncio.CancelledError:
            result.cancelled = True
            raise
        except Exception as error:  # noqa: BLE001 - every error is a failed session with a reason
            result.error = result.error or describe_error(error, self.config.timeout)
        finally:
            result.duration_s = (result.ended_at or time.monotonic()) - started
            outcome, reason, ended = judge_session(result, self.config.long_session_may_close)
            if result.long:
                self._long_outcome = (outcome, reason, ended)
                log.info("long session: %s (%s)", outcome, ended)
            with self._lock:
                self._stats[workload].phrases += result.phrases
            self._end(workload, outcome, result.duration_s * 1000, reason)
        return outcome

    async def _converse(self, client, workload, result):
        config = self.config
        try:
            async with asyncio.timeout(config.timeout):
                ws = await client.ws_connect(self.targets[workload], protocols=("USP",), autoclose=True,
                                             headers={"X-ConnectionId": uuid.uuid4().hex,
                                                      "User-Agent": "speechops-loadgen"})
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            result.error = describe_error(error, config.timeout)
            return
        lost = _connection_closed_future(ws)
        try:
            request_id = uuid.uuid4().hex
            await ws.send_str(text_message("speech.config", {"context": {
                "system": {"name": "speechops-loadgen", "version": "1.0"},
                "audio": {"source": {"type": "Stream", "samplerate": str(RATE), "bitspersample": "16",
                                     "channelcount": "1"}}}}))
            await ws.send_str(text_message("speech.context", {
                "phraseDetection": {"language": config.language}, "audio": {"streams": {"1": None}}}, request_id))
            receiver = asyncio.create_task(self._receive(ws, workload, request_id, result, lost))
            sender = asyncio.create_task(self._send_audio(ws, request_id, result))
            try:
                await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
                if receiver.done():
                    result.turn_ended_early = result.turn_ended and not sender.done()
                else:
                    # After a failed send, only a moment for the receiver to see how the connection ended.
                    send_failed = sender.exception() is not None or result.error
                    done, _pending = await asyncio.wait({receiver}, timeout=0.5 if send_failed else config.turn_timeout)
                    if not done:
                        result.ended_at = time.monotonic()
                        if sender.exception() is not None:
                            raise sender.exception()
                        if not result.error:
                            result.turn_timeout = config.turn_timeout
                if receiver.done() and receiver.exception() is not None:
                    raise receiver.exception()
            finally:
                for task in (sender, receiver):
                    task.cancel()
                await asyncio.gather(sender, receiver, return_exceptions=True)
        finally:
            if not ws.closed:
                try:
                    async with asyncio.timeout(2):
                        await ws.close()
                except (aiohttp.ClientError, OSError, TimeoutError):
                    pass

    async def _send_audio(self, ws, request_id, result):
        chunks = audio_chunks(self._utterance, result.planned_seconds)
        started = time.monotonic()
        for index, chunk in enumerate(chunks):
            delay = started + index * CHUNK_SECONDS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._stop.is_set():
                result.stopped_early = True
                break
            payload = wav_header() + chunk if index == 0 else chunk
            if not await self._send_bytes(ws, audio_message(request_id, payload, first=index == 0), result):
                return
            result.streamed_s += len(chunk) / BYTES_PER_SECOND
        else:
            await asyncio.sleep(max(0.0, started + result.streamed_s - time.monotonic()))
        await self._send_bytes(ws, audio_message(request_id, b""), result)

    async def _send_bytes(self, ws, data, result):
        """False when the server stopped reading: the send stayed blocked (TCP back-pressure) for `timeout`."""
        try:
            async with asyncio.timeout(self.config.timeout):
                await ws.send_bytes(data)
            return True
        except TimeoutError:
            result.error = (f"sending audio blocked for {self.config.timeout:g} s after {result.streamed_s:.1f} s: "
                            "the server stopped reading")
            return False

    async def _receive(self, ws, workload, request_id, result, lost):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                headers, body = parse_text_message(message.data)
                path = headers.get("Path")
                if path is None or headers.get("X-RequestId") != request_id:
                    result.ignored_messages += 1
                elif path == "turn.start":
                    result.turn_started = True
                elif path == "speech.phrase" and result.turn_started:
                    self._on_phrase(workload, body, result)
                elif path == "speech.phrase":
                    result.ignored_messages += 1
                elif path == "turn.end":
                    result.turn_ended, result.ended_at = True, time.monotonic()
                    return
            elif message.type == aiohttp.WSMsgType.CLOSE:
                result.close_code, result.close_reason = message.data, message.extra or ""
                result.ended_at = time.monotonic()
                return
            elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                result.lost = "reset" if _was_reset(lost, message) else "closed"
                result.ended_at = time.monotonic()
                return

    def _on_phrase(self, workload, body, result):
        try:
            status = json.loads(body).get("RecognitionStatus", "(none)")
        except (ValueError, AttributeError):
            status = "(unparsable speech.phrase)"
        if status == "Success":
            result.phrases += 1
            self._success(workload)
        else:
            result.other_statuses[status] = result.other_statuses.get(status, 0) + 1


async def _mark_reused(_session, context, _params):
    if isinstance(context.trace_request_ctx, dict):
        context.trace_request_ctx["reused"] = True


def _connection_closed_future(ws):
    """The connection's 'closed' future (aiohttp sets its exception on a reset); None if unavailable.

    aiohttp's WebSocket API tells a lost connection only as CLOSED; the transport protocol knows whether it
    was a reset. This reaches into ws._response (private), hence the fallbacks."""
    protocol = getattr(getattr(getattr(ws, "_response", None), "connection", None), "protocol", None)
    future = getattr(protocol, "closed", None)
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future
    return None


def _was_reset(lost, message):
    if message.type == aiohttp.WSMsgType.ERROR and isinstance(message.data, ConnectionResetError):
        return True
    if lost is not None and lost.done() and not lost.cancelled() and lost.exception() is not None:
        error = lost.exception()
        return "reset" in str(error).lower() or isinstance(error.__cause__, ConnectionResetError)
    return False


# ----- CLI ------------------------------------------------------------------------------------------

def format_table(report):
    """The report's counts as a text table, plus the long session and the first failures."""
    columns = ("sent", "ok", "failed", "cancelled", "closed", "p50_ms", "p99_ms", "max_ms")
    rows = [("workload",) + columns]
    for name, stats in [*report["workloads"].items(), ("total", report["totals"])]:
        rows.append((name,) + tuple("-" if stats.get(key) is None else str(stats[key]) for key in columns))
    widths = [max(len(cell) for cell in column) for column in zip(*rows)]
    lines = ["  ".join(cell.ljust(width) if index == 0 else cell.rjust(width)
                       for index, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    if "long_session" in report:
        long = report["long_session"]
        lines.append(f"long session: {long['outcome']}" + (f" - {long['ended']}" if long.get("ended") else ""))
    lines.append(f"stopped by: {report['stop_reason']}; failures: {report['failures_total']}"
                 + (f" (first {len(report['failures'])} in the report)" if report["failures"] else ""))
    for failure in report["failures"][:5]:
        lines.append(f"  {failure['time']} {failure['workload']} {failure['target']}: {failure['reason']}")
    return "\n".join(lines)


def parse_args(argv=None):
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add = parser.add_argument
    add("--tts-url", default="", help="TTS base URL (http://host:port); POST <url>/cognitiveservices/v1")
    add("--tts-workers", type=int, default=defaults.tts_workers)
    add("--voice", default=defaults.voice, help="voice in the SSML of the TTS requests (default %(default)s)")
    add("--tts-text", default=defaults.tts_text, help="text of the TTS requests")
    add("--tts-pause", type=float, default=0.0, help="seconds between a worker's requests")
    add("--fresh-connections", action="store_true", help="a new TCP connection per TTS request (default: keep-alive)")
    add("--stt-url", default="", help="STT base URL (ws://host:port or http://host:port)")
    add("--stt-sessions", type=int, default=defaults.stt_sessions, help="concurrent session holders")
    add("--session-seconds", type=float, default=defaults.session_seconds, help="audio per session")
    add("--language", default=defaults.language)
    add("--audio-file", default="", help="16 kHz 16-bit mono WAV for the sessions (default: synthesize it)")
    add("--audio-tts-url", default="", help="TTS URL that synthesizes the session audio (default: --tts-url)")
    add("--audio-voice", default="", help="voice for the session audio (default: --voice)")
    add("--audio-text", default=defaults.audio_text)
    add("--long-session-seconds", type=float, default=0.0, help="also one long session of this length")
    add("--long-session-may-close", action="store_true",
        help="a long session the server closes (close 1000/1001, or TCP after a phrase) is not a failure")
    stop = parser.add_argument_group("stopping")
    stop.add_argument("--duration", type=float, default=0.0, help="seconds to run")
    stop.add_argument("--until-file", default="", help="run until this file exists")
    stop.add_argument("--grace-seconds", dest="grace", type=float, default=defaults.grace,
                      help="time for in-flight requests and sessions after the stop")
    add("--ready-file", default="", help="written once every workload had its first success")
    add("--report", dest="report_file", default="", help="JSON report path")
    add("--timeout", type=float, default=defaults.timeout, help="connect/request/handshake timeout (s)")
    add("--turn-timeout", type=float, default=defaults.turn_timeout, help="end of audio -> turn.end timeout (s)")
    add("--failure-pause", type=float, default=defaults.failure_pause, help="pause after a failure (s)")
    add("-v", "--verbose", action="store_true")
    args = vars(parser.parse_args(argv))
    verbose = args.pop("verbose")
    args["keep_alive"] = not args.pop("fresh_connections")
    return Config(**args), verbose


def main(argv=None):
    config, verbose = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        report = LoadGenerator(config).run()
    except LoadGenError as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 2
    print(format_table(report), flush=True)
    return 1 if report["totals"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
