"""sdk_load: its pure parts, then the real Speech SDK and a REST client in closed loops against emulator processes,
a real HAProxy and small misbehaving servers, all on 127.0.0.1."""
import asyncio
import http.client
import os
import socket
import subprocess
import threading
import time

import pytest
from aiohttp import web

from emulator_support import Process, _env, free_port, wait_until
from sdk_load import (SdkLoad, Workload, check_pcm_wav, classify_cancellation, classify_exception, classify_http,
                      percentile, synthesize_wav, wav_bytes)

pytest.importorskip("azure.cognitiveservices.speech")

WEATHER = "What's the weather like?"
LIGHTS = "Turn on the lights in the kitchen."
GERMAN = "Wie wird das Wetter morgen?"
# The texts the Speech SDK 1.53 gives (probed against 127.0.0.1 servers).
SDK_503 = "WebSocket upgrade failed: Service unavailable (503). Please try the request again. USP state: Sending."
SDK_REFUSED = ("Connection failed (no connection to the remote host). Internal error: 1. Error details: Failed with error: "
               "WS_OPEN_ERROR_UNDERLYING_IO_OPEN_FAILED (code=111: [CONNECTION] Connection refused - no service listening "
               "on the target port")


def ws(url):
    return url.replace("http://", "ws://")


def client_threads():
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("sdk-load-")]


# ----- pure parts -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, p, expected", [
    ([15, 20, 35, 40, 50], 30, 20), ([15, 20, 35, 40, 50], 50, 35), ([15, 20, 35, 40, 50], 100, 50),
    (list(range(1, 101)), 99, 99), (list(range(1, 1001)), 99, 990), ([4.5], 1, 4.5), ([], 50, None),
])
def test_percentile_is_the_nearest_rank(values, p, expected):
    assert percentile(values, p) == expected


def test_check_pcm_wav_accepts_only_16khz_mono_pcm_with_data():
    pcm = b"\x01\x02" * 800
    assert check_pcm_wav(wav_bytes(pcm)) is None
    assert check_pcm_wav(wav_bytes(b"")) == "no PCM data"
    assert "truncated" in check_pcm_wav(wav_bytes(pcm)[:-10])
    assert "not RIFF/WAVE" in check_pcm_wav(b"<html>503 Service Unavailable</html>")
    assert "24000 Hz" in check_pcm_wav(wav_bytes(pcm, rate=24000))
    assert check_pcm_wav(wav_bytes(pcm)[:40]) == "no data chunk"


@pytest.mark.parametrize("status, reason", [(503, "lb_503"), (429, "throttled"), (504, "timeout"), (502, "server_error"),
                                            (500, "server_error"), (401, "rejected"), (404, "rejected")])
def test_classify_http(status, reason):
    assert classify_http(status) == reason


@pytest.mark.parametrize("error, reason", [
    (ConnectionRefusedError(111, "refused"), "refused"), (socket.timeout("timed out"), "timeout"),
    (http.client.RemoteDisconnected("closed"), "disconnected"), (ConnectionResetError(104, "reset"), "disconnected"),
    (OSError(113, "No route to host"), "connect"), (ValueError("bug"), "client_error"),
])
def test_classify_exception(error, reason):
    assert classify_exception(error) == reason


@pytest.mark.parametrize("code, details, reason", [
    ("ServiceUnavailable", SDK_503, "lb_503"), ("ConnectionFailure", SDK_REFUSED, "refused"),
    ("ConnectionFailure", "Connection failed (no connection to the remote host). WS_OPEN_ERROR_UNDERLYING_IO_OPEN_FAILED "
                          "(code=113: No route to host)", "connect"),
    ("ConnectionFailure", "Connection was closed by the remote host. Error code: 1006.", "disconnected"),
    ("ServiceTimeout", "Timeout: no recognition result received", "timeout"), ("TooManyRequests", "", "throttled"),
    ("ServiceError", "WebSocket upgrade failed: Internal service error (404).", "server_error"),
    ("AuthenticationFailure", "WebSocket upgrade failed: Authentication error (401).", "rejected"),
])
def test_classify_cancellation(code, details, reason):
    assert classify_cancellation(code, details) == reason


def test_workloads_are_checked_before_anything_starts():
    with pytest.raises(ValueError, match="kind must be one of"):
        Workload("x", kind="tts_grpc", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="needs audio"):
        Workload("x", kind="stt_once", url="ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="needs a http/https URL"):
        Workload("x", kind="tts_rest", url="ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="distinct names"):
        SdkLoad([Workload("x", kind="tts_rest", url="http://127.0.0.1:1")] * 2)


# ----- against emulators ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lid(start_emulator):
    return start_emulator("language-detection", locale="")


@pytest.fixture(scope="module")
def wavs(tts, start_emulator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavs")
    tts_de = start_emulator("neural-text-to-speech", locale="de-DE", voice="de-DE-KatjaNeural")
    return {"weather": synthesize_wav(tts.url, "en-US-AriaNeural", WEATHER, folder / "weather.wav"),
            "two": synthesize_wav(tts.url, "en-US-AriaNeural", [WEATHER, LIGHTS], folder / "two.wav"),
            "german": synthesize_wav(tts_de.url, "de-DE-KatjaNeural", GERMAN, folder / "german.wav")}


def test_synthesize_wav_joins_phrases_with_silence(wavs):
    with open(wavs["weather"], "rb") as one, open(wavs["two"], "rb") as two:
        single, double = one.read(), two.read()
    assert check_pcm_wav(single) is None and check_pcm_wav(double) is None
    assert len(double) > 2 * (len(single) - 44) + 0.8 * 32000


def test_every_kind_gets_ok_results_and_stop_ends_every_client(tts, stt, lid, wavs):
    load = SdkLoad([
        Workload("rest", kind="tts_rest", url=tts.url, clients=2),
        Workload("sdk", kind="tts_sdk", url=tts.url, clients=2, text=LIGHTS),
        Workload("once", kind="stt_once", url=ws(stt.url), clients=2, audio=wavs["weather"], expect=WEATHER),
        Workload("cont", kind="stt_continuous", url=ws(stt.url), audio=wavs["two"], expect=LIGHTS),
        Workload("lid", kind="lid", url=ws(lid.url), audio=wavs["german"], expect="de-DE"),
    ]).start()
    assert load.wait_ready(30), load.report()
    time.sleep(2)
    running = load.report()
    assert running["stuck_clients"] == 0 and running["totals"]["ok"] > 0
    started = time.monotonic()
    report = load.stop()
    assert time.monotonic() - started < 10
    assert client_threads() == []
    assert report["totals"]["failed"] == 0, report["failures"]
    for name, entry in report["workloads"].items():
        assert entry["ok"] > 0 and entry["failed_by_reason"] == {}, (name, entry)
        assert entry["sent"] == entry["ok"] + entry["cancelled"], (name, entry)
        assert 0 < entry["p50_ms"] <= entry["p99_ms"] <= entry["max_ms"] and entry["rps"] > 0, (name, entry)
    assert report["workloads"]["cont"]["clients"] == 1 and report["workloads"]["rest"]["kind"] == "tts_rest"
    assert load.report() is report


def test_a_wrong_answer_is_a_bad_result(stt, lid, wavs):
    with SdkLoad([Workload("once", kind="stt_once", url=ws(stt.url), audio=wavs["weather"], expect=LIGHTS),
                  Workload("lid", kind="lid", url=ws(lid.url), audio=wavs["weather"], expect="de-DE")]) as load:
        wait_until(lambda: all(w["failed"] for w in load.report()["workloads"].values()), timeout=20, what="failures")
    report = load.report()
    assert report["totals"]["ok"] == 0
    assert {reason for w in report["workloads"].values() for reason in w["failed_by_reason"]} == {"bad_result"}
    assert report["workloads"]["once"]["examples"]["bad_result"] == "heard [%r]" % WEATHER
    assert report["workloads"]["lid"]["examples"]["bad_result"] == "detected language 'en-US'"


def test_a_target_that_is_down_gives_refused_failures(wavs):
    url = "http://127.0.0.1:%d" % free_port()
    load = SdkLoad([Workload("rest", kind="tts_rest", url=url), Workload("sdk", kind="tts_sdk", url=url),
                    Workload("once", kind="stt_once", url=ws(url), audio=wavs["weather"])], grace=1).start()
    assert not load.wait_ready(2)
    report = load.stop()
    assert report["totals"]["ok"] == 0
    for name, entry in report["workloads"].items():
        assert entry["failed"] > 0 and set(entry["failed_by_reason"]) == {"refused"}, (name, entry)
    assert len(report["failures"]) == 200  # the first 200 are kept
    assert client_threads() == []


@pytest.fixture(scope="module")
def haproxy_503(tmp_path_factory):
    """A real HAProxy on 127.0.0.1 whose only server is down: it answers every request with its own 503."""
    folder = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(
        "global\n    maxconn 200\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n"
        "    timeout queue 1s\n"
        "frontend fe\n    bind 127.0.0.1:%d\n    default_backend speech\n"
        "backend speech\n    server down 127.0.0.1:%d disabled\n" % (port, free_port()))
    check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    process = Process(["haproxy", "-db", "-f", str(config)], _env({}), folder / "haproxy.log")
    try:
        wait_until(lambda: process.proc.poll() is not None or _listens(port), what="haproxy")
        assert process.proc.poll() is None, process.output()
        yield "http://127.0.0.1:%d" % port
    finally:
        process.stop()


def _listens(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_haproxy_503_is_lb_503_over_rest_and_the_sdk_websocket(haproxy_503, wavs):
    load = SdkLoad([Workload("rest", kind="tts_rest", url=haproxy_503), Workload("sdk", kind="tts_sdk", url=haproxy_503),
                    Workload("once", kind="stt_once", url=ws(haproxy_503), audio=wavs["weather"])]).start()
    wait_until(lambda: all(w["failed"] for w in load.report()["workloads"].values()), timeout=20, what="failures")
    report = load.stop()
    assert report["totals"]["ok"] == 0
    for name, entry in report["workloads"].items():
        assert set(entry["failed_by_reason"]) == {"lb_503"}, (name, entry)
    examples = {name: entry["examples"]["lb_503"] for name, entry in report["workloads"].items()}
    assert "No server is available" in examples["rest"]
    assert "Service unavailable (503)" in examples["sdk"] and "Service unavailable (503)" in examples["once"]


@pytest.fixture(scope="module")
def silent_server():
    """Accepts HTTP requests and WebSocket upgrades and never answers."""
    ready, holder = threading.Event(), {}

    async def handler(request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            socket_ = web.WebSocketResponse(protocols=("USP",))
            await socket_.prepare(request)
            async for _message in socket_:
                pass
            return socket_
        await asyncio.sleep(3600)
        return web.Response()

    async def main():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["port"], holder["stop"] = site._server.sockets[0].getsockname()[1], asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await holder["stop"].wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield "http://127.0.0.1:%d" % holder["port"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def test_requests_without_an_answer_time_out_and_stop_is_bounded(silent_server, wavs):
    load = SdkLoad([Workload("rest", kind="tts_rest", url=silent_server, timeout=1),
                    Workload("sdk", kind="tts_sdk", url=silent_server, timeout=1),
                    Workload("once", kind="stt_once", url=ws(silent_server), audio=wavs["weather"], timeout=60)],
                   grace=0.5, stop_timeout=30).start()
    time.sleep(2.5)
    started = time.monotonic()
    report = load.stop()
    assert time.monotonic() - started < 31
    assert report["stuck_clients"] == 0 and client_threads() == []
    assert report["totals"]["ok"] == 0
    for name in ("rest", "sdk"):
        entry = report["workloads"][name]
        assert entry["failed"] >= 1 and set(entry["failed_by_reason"]) == {"timeout"}, (name, entry)
    once = report["workloads"]["once"]
    assert once["failed"] == 0 and once["cancelled"] == once["sent"] == 1, once


# ----- the load benchmark's pure parts (tests/bench/bench_load.py) -----------------------------------------------

@pytest.fixture(scope="module")
def bench():
    import importlib.util  # pylint: disable=import-outside-toplevel
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "bench_load.py")
    spec = importlib.util.spec_from_file_location("bench_load", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_capacity_comes_from_the_catalog_else_a_stated_fallback(bench):
    assert bench.capacity_of({"kind": "speech-to-text", "replicas": 2, "concurrency": 2, "capacity": 4}) == (4, "catalog")
    assert bench.capacity_of({"kind": "speech-to-text", "replicas": 3, "concurrency": 2}) == (6, "replicas x concurrency")
    assert bench.capacity_of({"kind": "neural-text-to-speech", "replicas": 2}) == (4, "fallback: replicas x 2")
    assert bench.capacity_of({"kind": "language-detection", "replicas": 1}) == (4, "fallback: replicas x 4")
    assert [bench.clients_for(level, 4) for level in (0.5, 1, 2, 4)] == [2, 4, 8, 16]
    assert bench.clients_for(0.5, 1) == 1


def _entry(failed_by_reason, ok=10):
    failed = sum(failed_by_reason.values())
    return {"ok": ok, "failed": failed, "failed_by_reason": failed_by_reason, "p50_ms": 12.3, "p99_ms": 45.6,
            "max_ms": 50.0, "rps": 7.25, "seconds": 60.0}


def test_bench_verdict_no_failure_up_to_2x_and_only_the_lbs_503_above(bench):
    assert bench.verdict(2.0, _entry({})) is None
    assert "1 failed request(s) at 2.0x" in bench.verdict(2.0, _entry({"lb_503": 1}))
    assert bench.verdict(4.0, _entry({"lb_503": 30}), from_containers=0) is None
    assert "other than lb_503" in bench.verdict(4.0, _entry({"lb_503": 30, "timeout": 1}))
    assert "from the containers" in bench.verdict(4.0, _entry({"lb_503": 30}), from_containers=30)
    assert bench.verdict(4.0, _entry({"lb_503": 30}), from_containers=0, marked_down=0) is None
    assert "marked DOWN 1 time(s) under load at 1.0x" in bench.verdict(1.0, _entry({}), marked_down=1)


def test_bench_counts_servers_marked_down_in_the_service_backend_only(bench):
    before = {"tts/a": {"chkdown": "0", "hrsp_5xx": "1"}, "tts_ws/a": {"chkdown": "0", "hrsp_5xx": "0"}}
    after = {"tts/a": {"chkdown": "2", "hrsp_5xx": "4"}, "tts_ws/a": {"chkdown": "2", "hrsp_5xx": "1"},
             "tts/b": {"chkdown": "", "hrsp_5xx": ""}}
    assert bench.marked_down(before, after) == 2
    assert bench.container_5xx(before, after) == 4
    assert bench.marked_down(None, after) is None


def test_bench_line_format(bench):
    row = {"service": "tts-aria", "kind": "tts_rest", "level": 2.0, "clients": 8, "report": _entry({"lb_503": 2}, ok=98)}
    assert bench.line(row) == ("load service=tts-aria kind=tts_rest level=2.0 clients=8 requests=100 failed=2 lb_503=2 "
                               "p50_ms=12.3 p99_ms=45.6 rps=7.2")
    table = bench.markdown([dict(row, container_5xx=0, marked_down=0)])
    assert table.splitlines()[2].startswith("| tts-aria | tts_rest | 2.0x | 8 | 60 | 100 | 2 | 2 | - | 0 | 0 |")
