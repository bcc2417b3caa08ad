"""The load generator: pure parts, then against emulator processes and small fake servers on 127.0.0.1."""
import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest
from aiohttp import WSMsgType, web
from hypothesis import given, strategies as st

import loadgen
from emulator_support import free_port, wait_until
from loadgen import Config, LoadGenerator, LoadGenError, SessionResult, judge_session, percentile

LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loadgen.py")


def wav(pcm, rate=16000, channels=1, sizes=True):
    header = loadgen.wav_header(len(pcm) if sizes else 0, rate)
    if channels != 1:
        header = header[:22] + struct.pack("<H", channels) + header[24:]
    return header + pcm


# ----- pure parts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("values, p, expected", [
    ([15, 20, 35, 40, 50], 5, 15), ([15, 20, 35, 40, 50], 30, 20), ([15, 20, 35, 40, 50], 40, 20),
    ([15, 20, 35, 40, 50], 50, 35), ([15, 20, 35, 40, 50], 100, 50),
    ([20, 3, 16, 8, 15, 13, 8, 10, 7, 6], 25, 7), ([20, 3, 16, 8, 15, 13, 8, 10, 7, 6], 50, 8),
    ([20, 3, 16, 8, 15, 13, 8, 10, 7, 6], 75, 15), ([20, 3, 16, 8, 15, 13, 8, 10, 7, 6], 99, 20),
    (list(range(1, 101)), 99, 99), (list(range(1, 1001)), 99, 990), ([4.5], 1, 4.5), ([], 50, None),
])
def test_percentile_is_the_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1), st.floats(min_value=0.001, max_value=100))
def test_percentile_properties(values, p):
    p50, p99, top = percentile(values, 50), percentile(values, 99), percentile(values, 100)
    assert p50 <= p99 <= top == max(values)
    assert percentile(values, p) in values and p50 in values and p99 in values


def test_check_wav_accepts_only_16khz_mono_pcm_with_data():
    pcm = b"\x01\x02" * 800
    assert loadgen.check_wav(wav(pcm)) is None
    assert loadgen.check_wav(wav(pcm, sizes=False)) is None  # streamed WAV: sizes 0
    assert loadgen.check_wav(wav(b"")) == "bad audio: no PCM data"
    assert "truncated" in loadgen.check_wav(wav(pcm)[:-10])
    assert "not RIFF/WAVE" in loadgen.check_wav(b"<html>503</html>")
    assert "24000 Hz" in loadgen.check_wav(wav(pcm, rate=24000))
    assert "2 channel(s)" in loadgen.check_wav(wav(pcm, channels=2))
    assert loadgen.check_wav(wav(pcm)[:40]) == "bad audio: no data chunk"


def test_audio_chunks_loop_the_utterance_with_pauses_in_100ms_chunks():
    utterance = b"\x10\x10" * 4000  # 0.25 s
    chunks = list(loadgen.audio_chunks(utterance, 1.05))
    assert [len(c) for c in chunks] == [3200] * 10 + [1600]
    stream = b"".join(chunks)
    cycle = utterance + bytes(16000)  # + 0.5 s of silence
    assert stream == (cycle * 2)[:len(stream)]


def test_usp_framing_and_case_sensitive_headers():
    message = loadgen.audio_message("ab" * 16, b"PCM", first=True)
    size = int.from_bytes(message[:2], "big")
    header = message[2:2 + size].decode()
    assert message[2 + size:] == b"PCM" and header.endswith("X-StreamId:1\r\n")
    assert "Path:audio\r\nContent-Type:audio/x-wav\r\nX-RequestId:" + "ab" * 16 in header
    text = loadgen.text_message("speech.context", {"a": 1}, "cd" * 16)
    assert text.split("\r\n")[1:3] == ["Path:speech.context", "X-RequestId:" + "cd" * 16] and text.endswith('\r\n\r\n{"a": 1}')
    headers, body = loadgen.parse_text_message("path:turn.end\r\nX-RequestId: x\r\n\r\n{}")
    assert headers == {"path": "turn.end", "X-RequestId": "x"} and body == "{}"


def session(**fields):
    values = dict(planned_seconds=8, duration_s=8.2, turn_started=True, turn_ended=True, phrases=3)
    values.update(fields)
    return SessionResult(**values)


@pytest.mark.parametrize("result, may_close, outcome, words", [
    (session(), False, "ok", "turn.end after 8.2 s, 3 phrase(s)"),
    (session(other_statuses={"NoMatch": 1}), False, "ok", ""),
    (session(phrases=0, other_statuses={"InitialSilenceTimeout": 1}), False, "failed",
     "no recognized phrase (InitialSilenceTimeout)"),
    (session(other_statuses={"Error": 2}), False, "failed", "recognition status Error x2"),
    (session(turn_started=False), False, "failed", "without turn.start"),
    (session(turn_ended_early=True, streamed_s=2.0), False, "failed", "turn.end before the end of the audio"),
    (session(error="WebSocket handshake: HTTP 503", phrases=0), False, "failed", "handshake: HTTP 503"),
    (session(turn_ended=False, turn_timeout=10, ignored_messages=2), False, "failed", "no turn.end within 10 s"),
    (session(turn_ended=False, close_code=1001), False, "failed", "closed by the server with code 1001 before turn.end"),
    (session(turn_ended=False, lost="reset"), False, "failed", "connection reset by the server"),
    (session(long=True, turn_ended=False, close_code=1001), True, "closed", "code 1001"),
    (session(long=True, turn_ended=False, close_code=1011), True, "failed", "code 1011"),
    (session(long=True, turn_ended=False, lost="closed"), True, "closed", "without a WebSocket close"),
    (session(long=True, turn_ended=False, lost="reset", phrases=0), True, "failed", "reset"),
    (session(long=True, turn_ended=False, close_code=1000), False, "failed", "code 1000"),
    (session(stopped_early=True, streamed_s=3.1), False, "ok", "audio ended early by our stop at 3.1 s"),
    (session(stopped_early=True, phrases=0), False, "cancelled", ""),
    (session(long=True, stopped_early=True), True, "cancelled", "our stop"),
    (session(stopped_early=True, other_statuses={"Error": 1}), False, "failed", "Error"),
    (session(turn_ended=False, cancelled=True), False, "cancelled", "grace time"),
])
def test_session_outcomes(result, may_close, outcome, words):
    got, reason, ended = judge_session(result, may_close)
    assert got == outcome
    assert words in (reason if outcome == "failed" else ended)
    assert bool(reason) == (outcome == "failed")


def test_configuration_errors(tmp_path):
    (tmp_path / "stop").touch()
    with pytest.raises(LoadGenError, match="exists already"):
        LoadGenerator(Config(tts_url="http://127.0.0.1:9", until_file=str(tmp_path / "stop"))).start()
    with pytest.raises(LoadGenError, match="nothing to do"):
        LoadGenerator(Config())
    with pytest.raises(LoadGenError, match="need audio"):
        LoadGenerator(Config(stt_url="ws://127.0.0.1:9"))
    result = subprocess.run([sys.executable, LOADGEN, "--stt-url", "ws://127.0.0.1:9", "--audio-tts-url",
                             f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "no audio for the STT sessions" in result.stderr and "connection refused" in result.stderr


# ----- against the emulator -------------------------------------------------------------------------

def assert_counts_add_up(report):
    for name, stats in report["workloads"].items():
        assert stats["in_flight"] == 0, name
        assert stats["sent"] == stats["ok"] + stats["failed"] + stats["cancelled"] + stats.get("closed", 0), name
    assert report["failures_total"] == report["totals"]["failed"] >= len(report["failures"])


def test_load_on_emulators_has_no_failures(tts, stt):
    config = Config(tts_url=tts.url, tts_workers=2, tts_pause=0.05, stt_url=stt.url, stt_sessions=2, session_seconds=5,
                    long_session_seconds=3)
    generator = LoadGenerator(config).start()
    assert generator.wait_ready(15), generator.report()
    assert generator.wait_long_session(10)
    report = generator.stop()
    assert report["totals"]["failed"] == 0, report["failures"]
    assert_counts_add_up(report)
    tts_stats, stt_stats = report["workloads"]["tts"], report["workloads"]["stt"]
    assert tts_stats["sent"] > 10 and tts_stats["ok"] == tts_stats["sent"] and tts_stats["retried"] == 0
    assert 0 < tts_stats["p50_ms"] <= tts_stats["p99_ms"] <= tts_stats["max_ms"]
    assert stt_stats["ok"] >= 2 and stt_stats["phrases"] >= stt_stats["ok"]
    assert 1000 < stt_stats["p50_ms"] <= stt_stats["max_ms"] < 7000
    long = report["long_session"]
    assert (long["outcome"], long["counted_as_failed"]) == ("completed", False) and long["phrases"] >= 2
    assert long["ended"].startswith("turn.end after 3.") and long["streamed_s"] == 3.0
    assert report["stop_reason"] == "stop()" and report["ready"]


def test_cli_ready_file_until_file_and_report(tts, stt, audio_file, tmp_path):
    ready, until, report_path = tmp_path / "ready", tmp_path / "until", tmp_path / "report.json"
    ready.write_text("stale")
    process = subprocess.Popen([sys.executable, LOADGEN, "--tts-url", tts.url, "--tts-workers", "1", "--tts-pause", "0.1",
                                "--stt-url", stt.url.replace("http://", "ws://"), "--stt-sessions", "1",
                                "--session-seconds", "4", "--audio-file", audio_file, "--ready-file", str(ready),
                                "--until-file", str(until), "--report", str(report_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: not ready.exists() or process.poll() is not None, timeout=10, what="stale ready file removed")
        wait_until(lambda: ready.exists() or process.poll() is not None, timeout=15, what="ready file")
        assert process.poll() is None and json.loads(ready.read_text())["workloads"] == ["stt", "tts"]
        time.sleep(0.5)
        assert process.poll() is None and not report_path.exists()
        until.touch()
        stdout, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    assert report["stop_reason"] == "until-file" and report["totals"]["failed"] == 0
    assert report["workloads"]["stt"]["phrases"] >= 1 and report["workloads"]["tts"]["ok"] >= 2
    assert stdout.splitlines()[0].split() == ["workload", "sent", "ok", "failed", "cancelled", "closed", "p50_ms",
                                              "p99_ms", "max_ms"]
    assert any(line.startswith("stt ") for line in stdout.splitlines())


def test_sigterm_stops_and_counts_interrupted_sessions_as_cancelled(stt, audio_file, tmp_path):
    ready, report_path = tmp_path / "ready", tmp_path / "report.json"
    process = subprocess.Popen([sys.executable, LOADGEN, "--stt-url", stt.url, "--stt-sessions", "2", "--session-seconds",
                                "8", "--audio-file", audio_file, "--ready-file", str(ready), "--report", str(report_path),
                                "--grace-seconds", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ready.exists() or process.poll() is not None, timeout=15, what="ready file")
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    report = json.loads(report_path.read_text())
    stats = report["workloads"]["stt"]
    assert report["stop_reason"] == "signal SIGTERM"
    assert (stats["sent"], stats["cancelled"], stats["failed"]) == (2, 2, 0)
    assert_counts_add_up(report)


def test_nothing_listening_every_attempt_fails_as_connection_refused(audio_file):
    port = free_port()
    config = Config(tts_url=f"http://127.0.0.1:{port}", tts_workers=2, stt_url=f"ws://127.0.0.1:{port}", stt_sessions=1,
                    audio_file=audio_file, failure_pause=0, duration=1)
    report = LoadGenerator(config).run()
    tts_stats, stt_stats = report["workloads"]["tts"], report["workloads"]["stt"]
    assert tts_stats["failed"] == tts_stats["sent"] > 0 and tts_stats["reasons"] == {"connection refused": tts_stats["sent"]}
    assert stt_stats["failed"] == stt_stats["sent"] > 0 and stt_stats["reasons"] == {"connection refused": stt_stats["sent"]}
    assert report["failures_total"] == tts_stats["sent"] + stt_stats["sent"] > len(report["failures"]) == 200
    assert set(report["failures"][0]) == {"time", "workload", "target", "reason"}
    assert not report["ready"] and report["stop_reason"] == "duration"
    assert_counts_add_up(report)


def test_voice_mismatch_counts_http_400(tts):
    report = LoadGenerator(Config(tts_url=tts.url, voice="en-US-GuyNeural", duration=1)).run()
    stats = report["workloads"]["tts"]
    reason = "HTTP 400: Synthesis failed. StatusCode: InvalidArgument, Details: Voice does not match."
    assert stats["failed"] == stats["sent"] > 0 and stats["reasons"] == {reason: stats["sent"]}


def test_killed_stt_emulator_fails_the_session_and_closes_the_long_one(start_emulator, audio_file):
    victim = start_emulator("speech-to-text")
    config = Config(stt_url=victim.url, stt_sessions=1, session_seconds=6, long_session_seconds=20,
                    long_session_may_close=True, audio_file=audio_file)
    generator = LoadGenerator(config).start()
    try:
        assert generator.wait_ready(15), generator.report()
        victim.process.proc.kill()
        assert generator.wait_long_session(5)
        time.sleep(0.3)
    finally:
        report = generator.stop()
    stt_failures = [f["reason"] for f in report["failures"] if f["workload"] == "stt"]
    assert report["workloads"]["stt"]["failed"] >= 1 and report["workloads"]["stt"]["ok"] == 0
    assert stt_failures[0].startswith(("connection reset by the server before turn.end",
                                       "connection closed by the server without a WebSocket close before turn.end"))
    assert set(stt_failures[1:]) <= {"connection refused"}
    long = report["long_session"]
    assert (long["outcome"], long["counted_as_failed"], long["close_code"]) == ("closed", False, None)
    assert long["phrases"] >= 1 and "by the server" in long["ended"]
    assert report["workloads"]["stt_long"]["closed"] == 1 and report["workloads"]["stt_long"]["failed"] == 0


def test_terminated_stt_emulator_stalls_sessions_which_fail_in_bounded_time(start_emulator, audio_file):
    # On SIGTERM the emulator (aiohttp) drops what open WebSockets send: no phrase, no turn.end, no close.
    victim = start_emulator("speech-to-text")
    config = Config(stt_url=victim.url, stt_sessions=1, session_seconds=3, audio_file=audio_file, timeout=2,
                    turn_timeout=1)
    generator = LoadGenerator(config).start()
    try:
        assert generator.wait_ready(15), generator.report()
        victim.process.proc.terminate()
        wait_until(lambda: generator.report()["workloads"]["stt"]["failed"] >= 1, timeout=8, what="a failed session")
    finally:
        report = generator.stop()
    first = next(f["reason"] for f in report["failures"] if f["workload"] == "stt")
    assert first.startswith(("no turn.end within 1 s after the end of the audio", "sending audio blocked for 2 s")), first
    assert report["workloads"]["stt"]["ok"] == 0


# ----- against fake servers -------------------------------------------------------------------------

@pytest.fixture
def serve():
    """serve(start) -> port: runs `await start(port)` (returns an async cleanup) in a loop of its own thread."""
    servers = []

    def start(starter):
        port, loop = free_port(), asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        cleanup = asyncio.run_coroutine_threadsafe(starter(port), loop).result(10)
        servers.append((loop, thread, cleanup))
        return port

    yield start
    for loop, thread, cleanup in servers:
        asyncio.run_coroutine_threadsafe(cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def http_server(answer_requests):
    """A raw HTTP/1.1 server: on each connection it answers the first `answer_requests` requests with a WAV
    (keep-alive), then closes the connection when the next request arrives, without answering it."""
    body = wav(b"\x01\x02" * 1600)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: audio/x-wav\r\nConnection: keep-alive\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    class Connection(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer, self.answered = transport, b"", 0

        def data_received(self, data):
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, _separator, rest = self.buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(rest) < length:
                    return
                self.buffer = rest[length:]
                if self.answered == answer_requests:
                    self.transport.close()
                    return
                self.answered += 1
                self.transport.write(response)

    async def start(port):
        server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port)

        async def cleanup():
            server.close()
            await server.wait_closed()
        return cleanup
    return start


@pytest.mark.parametrize("keep_alive", [True, False])
def test_stale_keep_alive_connection_is_retried_once_and_not_counted(serve, keep_alive):
    port = serve(http_server(answer_requests=1))
    report = LoadGenerator(Config(tts_url=f"http://127.0.0.1:{port}", tts_workers=2, duration=1,
                                  keep_alive=keep_alive)).run()
    stats = report["workloads"]["tts"]
    assert stats["failed"] == 0 and stats["ok"] == stats["sent"] > 10
    # keep-alive: every request after a worker's first goes out on its pooled connection, which the server closes.
    assert stats["retried"] == (stats["sent"] - 2 if keep_alive else 0)


def test_server_closing_without_an_answer_on_a_fresh_connection_is_a_failure(serve):
    port = serve(http_server(answer_requests=0))
    report = LoadGenerator(Config(tts_url=f"http://127.0.0.1:{port}", tts_workers=1, duration=0.5)).run()
    stats = report["workloads"]["tts"]
    assert stats["failed"] == stats["sent"] > 0 and stats["retried"] == 0
    assert stats["reasons"] == {"server closed the connection without a response": stats["sent"]}


def usp_server(close_code):
    """A WebSocket USP server that sends turn.start, one Success phrase, then closes with `close_code`."""
    async def handler(request):
        ws = web.WebSocketResponse(protocols=("USP",))
        await ws.prepare(request)
        request_id, audio_messages = "", 0
        async for message in ws:
            if message.type == WSMsgType.TEXT and "Path:speech.context" in message.data:
                request_id = message.data.split("X-RequestId:")[1].split("\r\n")[0]
                await ws.send_str(f"Path:turn.start\r\nX-RequestId:{request_id}\r\n\r\n{{}}")
            elif message.type == WSMsgType.BINARY:
                audio_messages += 1
                if audio_messages == 2:
                    await ws.send_str(f"Path:speech.phrase\r\nX-RequestId:{request_id}\r\n\r\n"
                                      '{"RecognitionStatus":"Success","DisplayText":"Hello.","Offset":0,"Duration":1}')
                elif audio_messages == 5:
                    await ws.close(code=close_code, message=b"draining")
        return ws

    async def start(port):
        app = web.Application()
        app.router.add_get(loadgen.STT_PATH, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner.cleanup
    return start


@pytest.mark.parametrize("close_code, may_close, outcome", [
    (1001, True, "closed"), (1001, False, "failed"), (1011, True, "failed"),
])
def test_long_session_closed_by_the_server(serve, audio_file, close_code, may_close, outcome):
    port = serve(usp_server(close_code))
    generator = LoadGenerator(Config(stt_url=f"ws://127.0.0.1:{port}", stt_sessions=0, long_session_seconds=5,
                                     long_session_may_close=may_close, audio_file=audio_file)).start()
    assert generator.wait(5)  # a long session alone: the run ends with it
    report = generator.stop()
    long = report["long_session"]
    assert (long["outcome"], long["close_code"], long["close_reason"], long["phrases"]) == (outcome, close_code, "draining", 1)
    assert long["ended"].startswith(f"closed by the server with code {close_code} (draining) before turn.end after 0.")
    assert report["stop_reason"] == "all workloads ended" and "stt" not in report["workloads"]
    assert report["workloads"]["stt_long"]["failed"] == (outcome == "failed") == long["counted_as_failed"]
    assert [f["reason"] for f in report["failures"]] == ([long["ended"]] if outcome == "failed" else [])
