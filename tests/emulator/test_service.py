"""The emulator as a process: start-up rules, common endpoints, REST text-to-speech."""
import struct
import time

import pytest

from emulator_support import TEST_KEY, get_json, http, run_once, wait_until

SSML = ("<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>"
        "<voice name='{voice}'>{text}</voice></speak>")


@pytest.fixture(scope="module")
def tts(start_emulator, stub):
    return start_emulator("neural-text-to-speech", "Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}",
                          locale="en-US", voice="en-US-AriaNeural")


@pytest.fixture(scope="module")
def stt(start_emulator, stub):
    # Settings as environment variables, the way a Dockerfile or compose file passes them.
    return start_emulator("speech-to-text", locale="en-US",
                          env={"EULA": "accept", "billing": stub.url, "ApiKey": TEST_KEY,
                               "Emulator__BillingIntervalSeconds": "0.5", "LOGGING__CONSOLE__LOGLEVEL__DEFAULT": "Debug"})


@pytest.mark.parametrize("settings, message", [
    ((), "Eula setting must be 'accept'"),
    (("Eula=decline", "Billing=http://127.0.0.1:9/", "ApiKey=x"), "Eula setting must be 'accept'"),
    (("Eula=accept",), "Missing required setting(s): Billing, ApiKey"),
    (("eula=accept", "billing=http://127.0.0.1:9/"), "Missing required setting(s): ApiKey"),
    (("EULA=accept", "Billing=not-a-url", "ApiKey=x"), "Invalid Billing Endpoint URI"),
])
def test_refuses_to_start_without_eula_billing_and_apikey(settings, message):
    result = run_once(*settings)
    assert result.returncode != 0
    assert message in result.stderr


def test_api_key_is_never_printed_on_refusal():
    result = run_once("Eula=accept", "ApiKey=secret-key-must-not-show")
    assert result.returncode != 0 and "secret-key-must-not-show" not in result.stdout + result.stderr


def test_home_swagger_ready_and_status(tts):
    status, _headers, body = tts.get("/")
    assert status == 200 and b"neural-text-to-speech" in body
    status, _headers, body = tts.get("/swagger")
    assert status == 200 and b"swagger.json" in body
    status, document = get_json(tts.url + "/swagger/v1/swagger.json")
    assert "/speech/synthesize/cognitiveservices/v1" in document["paths"]
    ready = {"service": "neuraltexttospeech", "ready": "ready", "message": "The container is ready to accept queries."}
    assert get_json(tts.url + "/ready") == (200, ready)
    status, body = get_json(tts.url + "/status")
    assert status == 200 and body["apiStatus"] == "Valid" and "valid" in body["apiStatusMessage"]


def test_settings_from_environment_variables_start_a_container(stt):
    status, body = get_json(stt.url + "/status")
    assert (status, body["apiStatus"], body["service"]) == (200, "Valid", "speechtotext")
    # Nested keys with "__": the debug level shows the USP/billing debug lines, the interval makes reports frequent.
    wait_until(lambda: "DEBUG" in stt.process.output(), what="debug logging")
    assert TEST_KEY not in stt.process.output()


def test_ready_only_after_the_warm_up(start_emulator, stub):
    slow = start_emulator("speech-to-text", "Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}",
                          "Emulator:WarmupSeconds=2.5", locale="en-US", wait_ready=False)
    wait_until(lambda: slow.status_of("/status") == 200, what="listening")
    status, body = get_json(slow.url + "/ready")
    assert status == 503 and body["ready"] == "notready"
    wait_until(slow.ready, timeout=10, what="ready after warm-up")


def test_broken_version_listens_but_never_becomes_ready(start_emulator, stub):
    broken = start_emulator("speech-to-text", "Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}",
                            locale="en-US", broken=True, wait_ready=False)
    wait_until(lambda: broken.status_of("/status") == 200, what="listening")
    wait_until(lambda: "Model load failed" in broken.process.output(), what="failure log")
    assert broken.get("/ready")[0] == 503
    assert broken.process.proc.poll() is None


@pytest.mark.parametrize("fmt, rate, header", [
    ("riff-24khz-16bit-mono-pcm", 24000, True), ("riff-16khz-16bit-mono-pcm", 16000, True),
    ("raw-16khz-16bit-mono-pcm", 16000, False), ("riff-8khz-8bit-mono-mulaw", 8000, True)])
def test_rest_synthesis_returns_audio_in_the_requested_format(tts, fmt, rate, header):
    status, headers, body = http(
        "POST", tts.url + "/speech/synthesize/cognitiveservices/v1",
        SSML.format(voice="en-US-AriaNeural", text="Turn on the lights in the kitchen.").encode(),
        {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": fmt})
    assert status == 200
    if header:
        assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
        assert struct.unpack("<I", body[24:28])[0] == rate
        width = 2 if "16bit" in fmt else 1
        duration = (len(body) - 44) / (rate * width)
    else:
        assert body[:4] != b"RIFF"
        duration = len(body) / (rate * 2)
    assert 1.0 < duration < 4.0  # real speech, not a stub tone
    if fmt.endswith("pcm"):
        assert max(abs(s) for s in struct.unpack(f"<{(len(body) - 44) // 2}h", body[44:44 + (len(body) - 44) // 2 * 2])) > 3000


def test_synthesis_holds_its_engine_slot_for_the_synthesis_time(start_emulator, stub):
    slow = start_emulator("neural-text-to-speech", "Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}",
                          "Emulator:SynthesisSeconds=0.4", voice="en-US-AriaNeural")
    started = time.monotonic()
    status, _headers, body = http("POST", slow.url + "/cognitiveservices/v1",
                                  SSML.format(voice="en-US-AriaNeural", text="hello").encode(),
                                  {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 200 and body[:4] == b"RIFF"
    assert time.monotonic() - started >= 0.4


def test_rest_synthesis_also_on_the_short_path(tts):
    status, _headers, body = http("POST", tts.url + "/cognitiveservices/v1",
                                  SSML.format(voice="en-US-AriaNeural", text="hello").encode(),
                                  {"Content-Type": "application/ssml+xml; charset=utf-8",
                                   "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 200 and body[:4] == b"RIFF"


def test_wrong_voice_is_400_voice_does_not_match(tts):
    status, _headers, body = http("POST", tts.url + "/cognitiveservices/v1",
                                  SSML.format(voice="en-US-GuyNeural", text="hello").encode(),
                                  {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 400 and b"Voice does not match" in body


def test_wrong_content_type_is_415_and_missing_format_is_400(tts):
    ssml = SSML.format(voice="en-US-AriaNeural", text="hello").encode()
    assert http("POST", tts.url + "/cognitiveservices/v1", ssml,
                {"Content-Type": "text/plain", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})[0] == 415
    assert http("POST", tts.url + "/cognitiveservices/v1", ssml, {"Content-Type": "application/ssml+xml"})[0] == 400
    assert http("POST", tts.url + "/cognitiveservices/v1", ssml,
                {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "audio-16khz-32kbitrate-mono-mp3"})[0] == 400


def test_voices_list_names_the_container_voice(tts):
    status, voices = get_json(tts.url + "/cognitiveservices/voices/list")
    assert status == 200 and [v["ShortName"] for v in voices] == ["en-US-AriaNeural"]


def test_speech_to_text_is_websocket_only(stt):
    for path in ("/speech/recognition/conversation/cognitiveservices/v1",
                 "/speech/recognition/interactive/cognitiveservices/v1"):
        assert http("POST", stt.url + path, b"RIFF")[0] == 404
    assert http("POST", stt.url + "/speech/synthesize/cognitiveservices/v1", b"<speak/>",
                {"Content-Type": "application/ssml+xml"})[0] == 404


def test_usage_records_endpoint_is_only_for_disconnected_mode(stt):
    assert stt.get("/records/usage-logs/")[0] == 404


def test_legacy_text_to_speech_serves_its_standard_voice_by_microsofts_name(start_emulator, stub):
    tts = start_emulator("text-to-speech", "Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}",
                         locale="zh-CN", voice="zh-CN-Kangkang-Apollo")
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}
    status, _headers, body = http("POST", tts.url + "/cognitiveservices/v1",
                                  SSML.format(voice="zh-CN-Kangkang-Apollo", text="ni hao").encode(), headers)
    assert status == 200 and body[:4] == b"RIFF"
    assert http("POST", tts.url + "/cognitiveservices/v1",
                SSML.format(voice="zh-CN-Kangkang-apollo", text="ni hao").encode(), headers)[0] == 400
    assert [v["ShortName"] for v in get_json(tts.url + "/cognitiveservices/voices/list")[1]] == ["zh-CN-Kangkang-Apollo"]
