"""The real Speech SDK (azure-cognitiveservices-speech 1.53) against emulator processes, configured with
host= exactly as Microsoft's container docs show: ws://host:port for STT/LID, http://host:port for TTS."""
import array
import json
import math
import struct
import time

import pytest

from emulator_support import TEST_KEY, wait_until

sdk = pytest.importorskip("azure.cognitiveservices.speech")

WEATHER = "What's the weather like?"
LIGHTS = "Turn on the lights in the kitchen."
GERMAN = "Wie wird das Wetter morgen?"


@pytest.fixture(scope="module")
def services(start_emulator, stub):
    billing = ("Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}", "Emulator:BillingIntervalSeconds=1")
    return {
        "tts": start_emulator("neural-text-to-speech", *billing, locale="en-US", voice="en-US-AriaNeural"),
        "tts_de": start_emulator("neural-text-to-speech", *billing, locale="de-DE", voice="de-DE-KatjaNeural"),
        "stt": start_emulator("speech-to-text", *billing, locale="en-US"),
        "lid": start_emulator("language-detection", *billing),
    }


def synthesize(service, voice, text, output_format=None):
    config = sdk.SpeechConfig(host=f"http://127.0.0.1:{service.port}")
    config.speech_synthesis_voice_name = voice
    if output_format is not None:
        config.set_speech_synthesis_output_format(output_format)
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    try:
        return synthesizer.speak_text_async(text).get()
    finally:
        del synthesizer  # release the native synthesizer before the interpreter exits (the SDK can hang otherwise)


def wav_file(path, pcm, rate=16000):
    header = (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
              + b"data" + struct.pack("<I", len(pcm)))
    path.write_bytes(header + pcm)
    return str(path)


@pytest.fixture(scope="module")
def phrases(services):
    """16 kHz PCM of catalog phrases, synthesized by the emulator through the SDK (46-byte SDK header removed)."""
    audio = {}
    for name, service, voice, text in (("weather", services["tts"], "en-US-AriaNeural", WEATHER),
                                       ("lights", services["tts"], "en-US-AriaNeural", LIGHTS),
                                       ("german", services["tts_de"], "de-DE-KatjaNeural", GERMAN)):
        result = synthesize(service, voice, text)
        assert result.reason == sdk.ResultReason.SynthesizingAudioCompleted, result.cancellation_details.error_details
        audio[name] = bytes(result.audio_data)[46:]
    return audio


def recognizer(service, wav, **kwargs):
    config = sdk.SpeechConfig(host=f"ws://127.0.0.1:{service.port}")
    for key, value in kwargs.pop("config", {}).items():
        setattr(config, key, value)
    return sdk.SpeechRecognizer(speech_config=config, audio_config=sdk.audio.AudioConfig(filename=wav), **kwargs)


def recognize_continuously(service, wav, timeout=30):
    rec = recognizer(service, wav)
    results, done = [], []
    rec.recognized.connect(lambda event: results.append(event.result))
    rec.session_stopped.connect(lambda event: done.append("stopped"))
    rec.canceled.connect(lambda event: done.append(event.cancellation_details.reason))
    rec.start_continuous_recognition()
    deadline = time.monotonic() + timeout
    while "stopped" not in done and time.monotonic() < deadline:
        time.sleep(0.05)
    rec.stop_continuous_recognition()
    return [r.text for r in results if r.reason == sdk.ResultReason.RecognizedSpeech], done


def test_synthesis_returns_speech_audio_at_the_requested_rate(services):
    result = synthesize(services["tts"], "en-US-AriaNeural", LIGHTS, sdk.SpeechSynthesisOutputFormat.Riff24Khz16BitMonoPcm)
    assert result.reason == sdk.ResultReason.SynthesizingAudioCompleted
    data = bytes(result.audio_data)
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[24:28])[0] == 24000
    assert 1.0 < result.audio_duration.total_seconds() < 4.0
    samples = array.array("h", data[46:46 + (len(data) - 46) // 2 * 2])
    assert max(map(abs, samples)) > 3000


def test_synthesis_with_another_voice_is_canceled_voice_does_not_match(services):
    result = synthesize(services["tts"], "en-US-GuyNeural", "hello")
    assert result.reason == sdk.ResultReason.Canceled
    assert "Voice does not match" in result.cancellation_details.error_details


def test_voices_list_through_the_sdk(services):
    synthesizer = sdk.SpeechSynthesizer(speech_config=sdk.SpeechConfig(host=f"http://127.0.0.1:{services['tts'].port}"),
                                        audio_config=None)
    result = synthesizer.get_voices_async().get()
    del synthesizer
    assert result.reason == sdk.ResultReason.VoicesListRetrieved
    assert [voice.short_name for voice in result.voices] == ["en-US-AriaNeural"]


def test_recognize_once_returns_the_synthesized_phrase(services, phrases, tmp_path):
    result = recognizer(services["stt"], wav_file(tmp_path / "weather.wav", phrases["weather"])).recognize_once()
    assert result.reason == sdk.ResultReason.RecognizedSpeech
    assert result.text == WEATHER
    assert 0 < result.duration < 30_000_000  # ticks of 100 ns: under 3 s


def test_continuous_recognition_yields_one_phrase_per_segment(services, phrases, tmp_path):
    pcm = phrases["weather"] + bytes(32000) + phrases["lights"]
    texts, done = recognize_continuously(services["stt"], wav_file(tmp_path / "two.wav", pcm))
    assert texts == [WEATHER, LIGHTS]
    assert "stopped" in done


def tone_bursts(seconds_list, rate=16000):
    pcm = bytearray(bytes(3200))
    for seconds in seconds_list:
        pcm += array.array("h", (int(9000 * math.sin(2 * math.pi * 300 * i / rate)) for i in range(int(seconds * rate)))).tobytes()
        pcm += bytes(2 * int(0.6 * rate))
    return bytes(pcm)


def test_unknown_audio_gives_a_duration_phrase_per_segment(services, tmp_path):
    texts = recognize_continuously(services["stt"], wav_file(tmp_path / "tones.wav", tone_bursts([0.5, 1.2])))[0]
    assert texts == ["Speech emulator heard 0.5 seconds of speech.", "Speech emulator heard 1.2 seconds of speech."]


def test_silence_is_no_match(services, tmp_path):
    result = recognizer(services["stt"], wav_file(tmp_path / "silence.wav", bytes(32000))).recognize_once()
    assert result.reason == sdk.ResultReason.NoMatch


def test_detailed_output_carries_nbest(services, phrases, tmp_path):
    rec = recognizer(services["stt"], wav_file(tmp_path / "weather.wav", phrases["weather"]),
                     config={"output_format": sdk.OutputFormat.Detailed})
    result = rec.recognize_once()
    body = json.loads(result.properties[sdk.PropertyId.SpeechServiceResponse_JsonResult])
    assert result.text == WEATHER
    assert body["NBest"][0]["Lexical"] == "what's the weather like"


def test_source_language_recognizer_detects_the_language(services, phrases, tmp_path):
    auto = sdk.languageconfig.AutoDetectSourceLanguageConfig(languages=["en-US", "de-DE"])
    config = sdk.SpeechConfig(host=f"ws://127.0.0.1:{services['lid'].port}")
    detected = {}
    for name in ("german", "weather"):
        rec = sdk.SourceLanguageRecognizer(speech_config=config, auto_detect_source_language_config=auto,
                                           audio_config=sdk.audio.AudioConfig(filename=wav_file(tmp_path / f"{name}.wav", phrases[name])))
        result = rec.recognize_once()
        assert result.reason == sdk.ResultReason.RecognizedSpeech
        detected[name] = sdk.AutoDetectSourceLanguageResult(result).language
    assert detected == {"german": "de-DE", "weather": "en-US"}


def test_speech_recognizer_with_language_detection_on_the_lid_container(services, phrases, tmp_path):
    auto = sdk.languageconfig.AutoDetectSourceLanguageConfig(languages=["en-US", "de-DE"])
    result = recognizer(services["lid"], wav_file(tmp_path / "german.wav", phrases["german"]),
                        auto_detect_source_language_config=auto).recognize_once()
    assert result.text == GERMAN
    assert sdk.AutoDetectSourceLanguageResult(result).language == "de-DE"


def test_usage_is_reported_to_the_billing_stub_per_key(services, phrases, stub):
    # The services report every second (Emulator:BillingIntervalSeconds=1); the stub sums per key.
    def reported():
        usage = stub.call("/usage", {"key": TEST_KEY})
        return usage if usage["meters"].get("Characters") and usage["meters"].get("AudioSeconds") else None

    usage = wait_until(reported, timeout=20, interval=0.5, what="usage reports")
    assert usage["meters"]["Characters"] >= len(WEATHER) + len(LIGHTS) + len(GERMAN)
    assert {r["containerType"] for r in usage["records"]} >= {"neural-text-to-speech", "speech-to-text"}
