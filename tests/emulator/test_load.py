"""The emulator under load, as processes on 127.0.0.1: aggregated usage reports, reports the billing endpoint
refuses, engine slots (concurrency limits) seen from USP clients and the real Speech SDK."""
import array
import asyncio
import json
import math
import struct
import time
import uuid

import aiohttp
import pytest

from emulator_support import TEST_KEY, get_json, http, wait_until
from speech_emulator import usp

sdk = pytest.importorskip("azure.cognitiveservices.speech")

VOICE = "en-US-AriaNeural"
TEXT = "What's the weather like?"
SSML = f"<speak version='1.0'><voice name='{VOICE}'>{TEXT}</voice></speak>"
TTS_HEADERS = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}
BUFFER_EXCEEDED = "Due to service inactivity the client buffer size exceeded"
LOAD_REQUESTS, LOAD_CLIENTS, INTERVAL = 20_000, 8, 25
# A report of per-request records (about 250 bytes each) this large passes the stub's 1 MiB body limit.
RECORDS_OVER_A_MEBIBYTE = 5_000


def billing(stub, interval):
    return ("Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}", f"Emulator:BillingIntervalSeconds={interval}")


def start_tts(start_emulator, stub, interval, *settings):
    tts = start_emulator("neural-text-to-speech", *billing(stub, interval), *settings, locale="en-US", voice=VOICE)
    wait_until(lambda: get_json(tts.url + "/status")[1]["apiStatus"] == "Valid", what="key checked")
    return tts


def engine_stats(emulator):
    status, body = get_json(emulator.url + "/emulator/engine")
    assert status == 200
    return body


def reports(stub):
    return stub.call("/state")["reports"]


async def closed_loop(url, requests, clients):
    """`requests` REST syntheses from `clients` keep-alive clients, each sending its next one as soon as the
    last is answered; (ok, failures by reason, seconds)."""
    failures, ok, left = {}, [0], [requests]
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(session):
        while left[0] > 0:
            left[0] -= 1
            try:
                async with session.post(url + "/cognitiveservices/v1", data=SSML, headers=TTS_HEADERS) as response:
                    body = await response.read()
                    reason = None if response.status == 200 and body[:4] == b"RIFF" else f"HTTP {response.status} {body[:80]!r}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                reason = repr(error)
            if reason:
                failures[reason] = failures.get(reason, 0) + 1
            else:
                ok[0] += 1

    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _client in range(clients)))
    return ok[0], failures, time.monotonic() - started


def sdk_synthesis(tts):
    synthesizer = sdk.SpeechSynthesizer(speech_config=sdk.SpeechConfig(host=f"http://127.0.0.1:{tts.port}"),
                                        audio_config=None)
    try:
        return synthesizer.speak_ssml_async(SSML).get()
    finally:
        del synthesizer


def test_tens_of_thousands_of_requests_in_one_interval_are_one_small_report_and_never_refused(
        start_emulator, start_stub):
    stub = start_stub()
    tts = start_tts(start_emulator, stub, INTERVAL)
    ok, failures, seconds = asyncio.run(closed_loop(tts.url, LOAD_REQUESTS, LOAD_CLIENTS))
    print(f"{LOAD_REQUESTS} requests from {LOAD_CLIENTS} clients in {seconds:.1f} s: {LOAD_REQUESTS / seconds:.0f}/s")
    assert (ok, failures) == (LOAD_REQUESTS, {})

    accepted = reports(stub)["accepted"]
    wait_until(lambda: reports(stub)["accepted"] >= accepted + 2, timeout=3 * INTERVAL, interval=0.5,
               what=f"two usage reports after the load (had {accepted})")
    usage = stub.call("/usage", {"key": TEST_KEY})
    assert usage["counts"] == {"Characters": LOAD_REQUESTS}
    assert usage["meters"] == {"Characters": LOAD_REQUESTS * len(TEXT)}
    counts = [r["meter"]["count"] for r in usage["records"]]
    print(f"queries per report: {counts}; report bodies: {reports(stub)}")
    assert max(counts) >= RECORDS_OVER_A_MEBIBYTE  # one interval held them: per-query records would not pass
    assert {r["containerType"] for r in usage["records"]} == {"neural-text-to-speech"}
    state = reports(stub)
    assert state["refused"] == 0 and 0 < state["maxBytes"] < 2_000, state

    ok_after, failures_after, _seconds = asyncio.run(closed_loop(tts.url, 1_000, LOAD_CLIENTS))
    assert (ok_after, failures_after) == (1_000, {})
    result = sdk_synthesis(tts)
    assert result.reason == sdk.ResultReason.SynthesizingAudioCompleted, result.cancellation_details.error_details
    assert get_json(tts.url + "/status")[1]["apiStatus"] == "Valid"
    stats = engine_stats(tts)
    assert stats["slots"] == 2 and stats["peakActive"] == 2 and stats["served"] == LOAD_REQUESTS + 1_001, stats
    assert 2 < stats["peakInFlight"] <= LOAD_CLIENTS and stats["peakConnections"] == 1, stats  # 8 REST clients, 1 SDK
    assert "Unknown" not in tts.process.output()


def synthesize(emulator):
    return http("POST", emulator.url + "/cognitiveservices/v1", SSML.encode(), TTS_HEADERS)[0]


def test_refused_reports_keep_the_key_valid_and_serving_then_invalid_still_stops(start_emulator, start_stub):
    stub = start_stub()
    tts = start_tts(start_emulator, stub, 0.5)
    stub.call("/usage/refuse", {"status": 413})
    assert [synthesize(tts) for _attempt in range(4)] == [200] * 4
    wait_until(lambda: reports(stub)["refused"] >= 1, timeout=5, what="a refused report")
    stub.call("/usage/refuse", {"status": 0})
    wait_until(lambda: stub.call("/usage", {"key": TEST_KEY})["counts"].get("Characters") == 4, timeout=5,
               what="the refused usage, merged into the next report")

    stub.call("/usage/refuse", {"status": 400})
    wait_until(lambda: "dropping their usage" in tts.process.output(), timeout=10, what="refused usage dropped")
    assert reports(stub)["refused"] >= 3
    assert [synthesize(tts) for _attempt in range(3)] == [200] * 3
    status, body = get_json(tts.url + "/status")
    assert (status, body["apiStatus"]) == (200, "Valid") and tts.ready()
    output = tts.process.output()
    assert "HTTP 413" in output and "HTTP 400" in output and "'Unknown'" not in output

    stub.call("/keys/revoke", {"key": TEST_KEY})
    wait_until(lambda: synthesize(tts) == 401, timeout=5, what="the revoked key refused")
    assert get_json(tts.url + "/status")[1]["apiStatus"] == "Invalid"


def test_the_stub_refuses_reports_it_cannot_read_and_bodies_over_a_mebibyte(stub):
    usage_url = stub.url + "emulator/v1/usage"
    key = {"Ocp-Apim-Subscription-Key": TEST_KEY, "Content-Type": "application/json"}
    assert http("POST", usage_url, b"{not json", key)[0] == 400
    assert http("POST", usage_url, b'{"records": [{"meter": {"name": "Characters"}}]}', key)[0] == 400
    record = {"id": "x" * 32, "meter": {"name": "Characters", "quantity": 24}, "apiType": "neural-text-to-speech"}
    assert http("POST", usage_url, json.dumps({"records": [record] * 20_000}).encode(), key)[0] == 413
    assert http("POST", usage_url, b'{"records": []}', {"Ocp-Apim-Subscription-Key": "nope"})[0] == 401
    assert http("POST", stub.admin + "/usage/refuse", {"status": 429})[0] == 400


async def usp_turn(url, seconds, events):
    """One recognition turn over the USP protocol: speech.context, once turn.start says a decoder took the turn
    `seconds` of silence in 100 ms chunks at real time, end of stream; appends (turn.start time, turn.end time)
    to `events`."""
    request_id, times, decoding = uuid.uuid4().hex, {}, asyncio.Event()
    path = "/speech/recognition/conversation/cognitiveservices/v1?language=en-US"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http", "ws") + path, protocols=("USP",)) as ws:

            async def receive():
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        times.setdefault(usp.parse_text(message.data)[0].get("path"), time.monotonic())
                        if "turn.start" in times:
                            decoding.set()
                        if "turn.end" in times:
                            return

            receiver = asyncio.create_task(receive())
            await ws.send_str(f"Path:speech.context\r\nX-RequestId:{request_id}\r\n\r\n{{}}")
            await asyncio.wait_for(decoding.wait(), 30)
            chunks = int(seconds * 10)
            for number in range(chunks + 1):
                await ws.send_bytes(usp.audio_message(request_id, bytes(3200) if number < chunks else b"", "1"))
                if number < chunks:
                    await asyncio.sleep(0.1)
            await asyncio.wait_for(receiver, 30)
    assert "turn.start" in times and "turn.end" in times, times
    events.append((times["turn.start"], times["turn.end"]))


def test_two_decoders_run_two_of_six_recognitions_at_once_and_health_checks_do_not_wait(start_emulator, stub):
    stt = start_emulator("speech-to-text", *billing(stub, 5), locale="en-US", env={"DECODER_MAX_COUNT": "2"})
    events, health = [], []

    async def scenario():
        sessions = [asyncio.create_task(usp_turn(stt.url, 1.0, events)) for _session in range(6)]
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as session:
            for path in ("/ready", "/status", "/emulator/engine"):
                started = time.monotonic()
                async with session.get(stt.url + path) as response:
                    health.append((path, response.status, time.monotonic() - started, await response.json()))
        await asyncio.gather(*sessions)

    asyncio.run(scenario())
    assert len(events) == 6
    overlaps = [sum(1 for start, end in events if start <= moment < end) for moment, _end in events]
    assert max(overlaps) == 2, events
    waited = sorted(start for start, _end in events)
    assert waited[-1] - waited[0] >= 1.8  # the last pair started after the first two pairs were done
    assert [(path, status) for path, status, _seconds, _body in health] == [
        ("/ready", 200), ("/status", 200), ("/emulator/engine", 200)]
    assert all(seconds < 1.0 for _path, _status, seconds, _body in health), health
    busy = health[2][3]
    assert (busy["active"], busy["waiting"], busy["inFlight"], busy["connections"]) == (2, 4, 6, 6), busy
    stats = engine_stats(stt)
    assert (stats["peakActive"], stats["peakInFlight"], stats["served"], stats["timedOut"]) == (2, 6, 6, 0)
    assert (stats["inFlight"], stats["active"]) == (0, 0)
    assert "peak concurrency 2 of 2 slots, 6 queries in flight" in stt.process.output()


def tone_wav(path, seconds=1.0, rate=16000):
    pcm = bytes(6400) + array.array("h", (int(9000 * math.sin(2 * math.pi * 300 * i / rate))
                                          for i in range(int(seconds * rate)))).tobytes() + bytes(16000)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
                     + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)
    return str(path)


def test_a_recognition_without_a_decoder_within_the_bound_is_canceled_with_the_documented_error(
        start_emulator, stub, tmp_path):
    stt = start_emulator("speech-to-text", *billing(stub, 5), "Emulator:DecoderWaitSeconds=1", locale="en-US",
                         env={"DECODER_MAX_COUNT": "1"})
    wav = tone_wav(tmp_path / "tone.wav")

    def recognize():
        recognizer = sdk.SpeechRecognizer(speech_config=sdk.SpeechConfig(host=f"ws://127.0.0.1:{stt.port}"),
                                          audio_config=sdk.audio.AudioConfig(filename=wav))
        try:
            return recognizer.recognize_once()
        finally:
            del recognizer

    async def scenario():
        holder = asyncio.create_task(usp_turn(stt.url, 4.0, []))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        canceled = await asyncio.to_thread(recognize)
        waited = time.monotonic() - started
        await holder
        return canceled, waited, await asyncio.to_thread(recognize)

    canceled, waited, served = asyncio.run(scenario())
    assert canceled.reason == sdk.ResultReason.Canceled
    details = canceled.cancellation_details
    assert details.reason == sdk.CancellationReason.Error and BUFFER_EXCEEDED in details.error_details, details.error_details
    assert 1.0 <= waited < 3.5
    assert served.reason == sdk.ResultReason.RecognizedSpeech and served.text.startswith("Speech emulator heard 1.0")
    stats = engine_stats(stt)
    assert (stats["slots"], stats["peakActive"], stats["timedOut"], stats["inFlight"]) == (1, 1, 1, 0)


def test_slots_of_language_detection_and_the_engine_slots_setting(start_emulator, stub):
    from speech_emulator import engine
    cpus, memory = engine.container_limits()
    lid = start_emulator("language-detection", *billing(stub, 5))
    assert engine_stats(lid)["slots"] == (6 if cpus >= 2 and memory >= 2 * 1024 ** 3 else 4)
    tts = start_emulator("neural-text-to-speech", *billing(stub, 5), "Emulator:EngineSlots=3", locale="en-US", voice=VOICE)
    assert engine_stats(tts)["slots"] == 3
    reset = http("POST", tts.url + "/emulator/engine/reset")
    assert reset[0] == 200 and json.loads(reset[2])["peakActive"] == 0
