"""Disconnected mode (licences, usage records), disk logging, and custom speech models."""
import asyncio
import json
import os
import time

import pytest

from emulator_support import TEST_KEY, get_json, http, run_once

sdk = pytest.importorskip("azure.cognitiveservices.speech")

CUSTOM_MODEL = "c0ffee00-0000-4000-8000-000000000001"
GERMAN_MODEL = "c0ffee00-0000-4000-8000-000000000002"
SSML = "<speak version='1.0'><voice name='en-US-AriaNeural'>{}</voice></speak>"


def connected(stub):
    return ("Eula=accept", f"Billing={stub.url}", f"ApiKey={TEST_KEY}")


def download_license(stub, folder, kind):
    return run_once(*connected(stub), "DownloadLicense=True", f"Mounts:License={folder}", kind=kind)


def test_download_license_writes_a_licence_with_an_expiry_and_exits(stub, tmp_path):
    result = download_license(stub, tmp_path, "speech-to-text")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "speech-to-text.license").read_text())
    assert document["containerType"] == "speech-to-text" and document["expiresAt"] > time.strftime("%Y-%m-%d")
    assert TEST_KEY not in json.dumps(document) + result.stdout + result.stderr


def test_language_detection_has_no_disconnected_mode(stub, tmp_path):
    result = download_license(stub, tmp_path, "language-detection")
    assert result.returncode != 0 and "not available as a disconnected container" in result.stderr


@pytest.fixture(scope="module")
def disconnected_tts(start_emulator, stub, tmp_path_factory):
    licence, output = tmp_path_factory.mktemp("license"), tmp_path_factory.mktemp("output")
    assert download_license(stub, licence, "neural-text-to-speech").returncode == 0
    tts = start_emulator("neural-text-to-speech", "Eula=accept", f"Mounts:License={licence}", f"Mounts:Output={output}",
                         "Logging:Disk:Format=json", locale="en-US", voice="en-US-AriaNeural")
    return tts, output


def test_disconnected_container_serves_without_billing_and_records_usage(disconnected_tts):
    tts, output = disconnected_tts
    status, body = get_json(tts.url + "/status")
    assert body["apiStatus"] == "Valid" and "License" in body["apiStatusMessage"]
    status, _headers, audio = http("POST", tts.url + "/cognitiveservices/v1", SSML.format("Hello there").encode(),
                                   {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"})
    assert status == 200 and audio[:4] == b"RIFF"
    summary = get_json(tts.url + "/records/usage-logs/")[1]
    assert summary["serviceName"] == "neuraltexttospeech"
    assert {"name": "Characters", "quantity": len("Hello there")} in summary["meters"]
    month = get_json(tts.url + time.strftime("/records/usage-logs/%m/%Y", time.gmtime()))[1]
    assert month["meters"] == summary["meters"]
    assert get_json(tts.url + "/records/usage-logs/01/1999")[1]["meters"] == []
    assert list((output / "usage-records").glob("*/*.jsonl"))


def test_disk_logging_writes_json_lines_under_the_output_mount(disconnected_tts):
    output = disconnected_tts[1]
    logs = list(output.glob("neuraltexttospeech/*/log.json"))
    assert logs
    lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any("ready" in line["message"] for line in lines) and {"timestamp", "level", "message"} <= set(lines[0])


@pytest.mark.parametrize("case", ["empty", "other-kind", "missing-folder", "no-output"])
def test_disconnected_container_refuses_without_a_valid_licence(stub, tmp_path, case):
    licence, output = tmp_path / "license", tmp_path / "output"
    licence.mkdir(), output.mkdir()
    if case == "other-kind":
        assert download_license(stub, licence, "speech-to-text").returncode == 0
    if case == "no-output":  # a valid licence, but nowhere to write usage records
        assert download_license(stub, licence, "neural-text-to-speech").returncode == 0
    settings = ["Eula=accept", f"Mounts:License={licence if case != 'missing-folder' else tmp_path / 'nope'}"]
    if case != "no-output":
        settings.append(f"Mounts:Output={output}")
    result = run_once(*settings, kind="neural-text-to-speech", env={"EMULATOR_VOICE": "en-US-AriaNeural"})
    assert result.returncode != 0
    expected = {"empty": "No valid license for neural-text-to-speech", "other-kind": "not neural-text-to-speech",
                "missing-folder": "license path was not found", "no-output": "needs Mounts:Output"}[case]
    assert expected in result.stderr


def test_disk_logging_needs_an_output_folder(stub, tmp_path):
    result = run_once(*connected(stub), "Logging:Disk:Format=json", f"Mounts:Output={tmp_path / 'absent'}")
    assert result.returncode != 0 and "needs an output mount" in result.stderr


def test_base_model_locale_lists_models_and_exits(stub):
    result = run_once(*connected(stub), "BaseModelLocale=en-US", kind="custom-speech-to-text")
    assert result.returncode == 0, result.stderr
    assert "20251201 (en-US base)" in result.stdout and "de-DE" not in result.stdout


@pytest.mark.parametrize("settings, message", [
    ((), "no ModelId given"),
    (("ModelId=does-not-exist",), "was not found"),
])
def test_custom_speech_needs_a_model(stub, tmp_path, settings, message):
    result = run_once(*connected(stub), f"Emulator:ModelsPath={tmp_path}", *settings, kind="custom-speech-to-text")
    assert result.returncode != 0 and message in result.stderr


@pytest.fixture(scope="module")
def custom_stt(start_emulator, stub, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    cstt = start_emulator("custom-speech-to-text", *connected(stub), f"ModelId={CUSTOM_MODEL}",
                          f"Emulator:ModelsPath={models}")
    return cstt, models


def test_model_id_downloads_the_model_into_the_models_folder(custom_stt):
    models = custom_stt[1]
    assert json.loads((models / "properties.json").read_text())["id"] == CUSTOM_MODEL


def test_custom_model_phrases_are_recognized(custom_stt, tmp_path):
    from speech_emulator import audio, catalog
    cstt = custom_stt[0]
    text = "Contoso support, how can I help you?"
    pcm = asyncio.run(audio.render(text, catalog.espeak_voice("en-US-AriaNeural"), 16000))
    wav = tmp_path / "custom.wav"
    wav.write_bytes(audio.wav_header(len(pcm), 16000) + pcm)
    config = sdk.SpeechConfig(host=f"ws://127.0.0.1:{cstt.port}")
    result = sdk.SpeechRecognizer(speech_config=config, audio_config=sdk.audio.AudioConfig(filename=str(wav))).recognize_once()
    assert result.reason == sdk.ResultReason.RecognizedSpeech and result.text == text


def test_model_id_is_ignored_when_a_model_is_present(start_emulator, stub, custom_stt):
    models = custom_stt[1]
    second = start_emulator("custom-speech-to-text", *connected(stub), f"ModelId={GERMAN_MODEL}",
                            f"Emulator:ModelsPath={models}")
    assert "is ignored" in second.process.output()
    assert json.loads((models / "properties.json").read_text())["id"] == CUSTOM_MODEL


def test_disconnected_custom_speech_cannot_download_a_model(stub, tmp_path):
    licence, output, models = tmp_path / "l", tmp_path / "o", tmp_path / "m"
    for folder in (licence, output, models):
        os.makedirs(folder)
    assert download_license(stub, licence, "custom-speech-to-text").returncode == 0
    result = run_once("Eula=accept", f"Mounts:License={licence}", f"Mounts:Output={output}", f"ModelId={CUSTOM_MODEL}",
                      f"Emulator:ModelsPath={models}", kind="custom-speech-to-text")
    assert result.returncode != 0 and "cannot download" in result.stderr


def test_legacy_custom_text_to_speech_serves_the_voice_of_its_model(start_emulator, stub, tmp_path):
    ctts = start_emulator("custom-text-to-speech", *connected(stub), "ModelId=c0ffee00-0000-4000-8000-000000000003",
                          f"Emulator:ModelsPath={tmp_path}")
    ssml = "<speak version='1.0'><voice name='{}'>Hello from Contoso.</voice></speak>"
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}
    assert http("POST", ctts.url + "/cognitiveservices/v1", ssml.format("en-US-ContosoNeural").encode(), headers)[0] == 200
    assert http("POST", ctts.url + "/cognitiveservices/v1", ssml.format("en-US-AriaNeural").encode(), headers)[0] == 400


def test_legacy_custom_text_to_speech_needs_a_model_id(stub, tmp_path):
    result = run_once(*connected(stub), f"Emulator:ModelsPath={tmp_path}", kind="custom-text-to-speech")
    assert result.returncode != 0
    assert "The custom voice Model ID is required to run the container" in result.stderr


def test_legacy_custom_text_to_speech_speaks_a_voice_derived_from_any_model_id(start_emulator, stub, tmp_path):
    model_id = "1a2b3c4d-0000-4000-8000-00000000c0de"
    ctts = start_emulator("custom-text-to-speech", *connected(stub), f"ModelId={model_id}",
                          f"Emulator:ModelsPath={tmp_path}")
    assert [v["ShortName"] for v in get_json(ctts.url + "/cognitiveservices/voices/list")[1]] == \
        ["en-US-Custom1A2B3C4DNeural"]
    assert json.loads((tmp_path / "properties.json").read_text())["id"] == model_id


# ----- display models (custom speech to text 3.1.0 and later) ----------------------------------------------------

def display_run(stub, models, *settings, version="9.0.0"):
    return run_once(*connected(stub), f"Emulator:ModelsPath={models}", *settings, kind="custom-speech-to-text",
                    env={"EMULATOR_VERSION": version})


def downloaded_display_models(models):
    return sorted((path.parent.parent.name, json.loads(path.read_text())["id"])
                  for path in models.glob("display/*/*/properties.json"))


def test_base_model_locale_with_display_types_lists_the_latest_display_models_and_exits(stub, tmp_path):
    from speech_emulator import display_models
    result = display_run(stub, tmp_path, "BaseModelLocale=en-US", "Punct", "Rescore")
    assert result.returncode == 0, result.stderr
    assert "Display models (Rescore, Punct) for en-US" in result.stdout and "Base models" not in result.stdout
    for entry in display_models.latest("en-US", ("Rescore", "Punct")):
        assert entry["id"] in result.stdout
    assert "Wfstitn" not in result.stdout and not list(tmp_path.iterdir())


def test_full_display_lists_all_four_types(stub, tmp_path):
    result = display_run(stub, tmp_path, "BaseModelLocale=de-DE", "FullDisplay")
    assert result.returncode == 0, result.stderr
    assert all(f" {t} " in result.stdout for t in ("Rescore", "Punct", "Resegment", "Wfstitn"))


def test_display_locale_downloads_the_latest_display_models_into_the_models_folder_and_exits(stub, tmp_path):
    from speech_emulator import display_models
    result = display_run(stub, tmp_path, "DisplayLocale=en-US", "FullDisplay")
    assert result.returncode == 0, result.stderr
    expected = sorted((e["type"].lower(), e["id"]) for e in display_models.latest("en-US", display_models.TYPES))
    assert downloaded_display_models(tmp_path) == expected
    again = display_run(stub, tmp_path, "DisplayLocale=en-US", "Punct")
    assert again.returncode == 0 and "already in" in again.stdout


def test_a_display_model_id_downloads_that_model(stub, tmp_path):
    from speech_emulator import display_models
    older = display_models.model_id("en-US", "Punct", display_models.RELEASES[0])
    result = display_run(stub, tmp_path, f"PunctId={older}", "DisplayLocale=en-US", "FullDisplay")
    assert result.returncode == 0, result.stderr
    assert downloaded_display_models(tmp_path) == [("punct", older)]
    assert "DisplayLocale=en-US is ignored: display model IDs take precedence" in result.stdout + result.stderr


@pytest.mark.parametrize("settings, message", [
    (("PunctId=00000000-0000-4000-8000-000000000000",), "was not found"),
    (("RescoreId={punct}",), "is a Punct display model, not Rescore"),
])
def test_a_wrong_display_model_id_stops_the_start(stub, tmp_path, settings, message):
    from speech_emulator import display_models
    punct = display_models.model_id("en-US", "Punct", display_models.RELEASES[-1])
    result = display_run(stub, tmp_path, *(s.format(punct=punct) for s in settings))
    assert result.returncode != 0 and message in result.stderr


def test_base_model_locale_takes_precedence_over_model_ids_and_display_locale(stub, tmp_path):
    from speech_emulator import display_models
    punct = display_models.model_id("en-US", "Punct", display_models.RELEASES[-1])
    result = display_run(stub, tmp_path, "BaseModelLocale=en-US", f"ModelId={CUSTOM_MODEL}", f"PunctId={punct}",
                         "DisplayLocale=en-US", "Punct")
    assert result.returncode == 0, result.stderr
    assert "Display models (Punct) for en-US" in result.stdout and not list(tmp_path.iterdir())


def test_model_id_takes_precedence_over_display_locale_and_the_container_serves(start_emulator, stub, tmp_path):
    cstt = start_emulator("custom-speech-to-text", *connected(stub), f"ModelId={CUSTOM_MODEL}",
                          f"Emulator:ModelsPath={tmp_path}", "DisplayLocale=en-US", "FullDisplay")
    assert "DisplayLocale=en-US is ignored: ModelId takes precedence" in cstt.process.output()
    assert downloaded_display_models(tmp_path) == []
    assert get_json(cstt.url + "/emulator/models")[1]["displayModels"] == []


def test_display_model_ids_with_a_model_id_download_and_then_serve(start_emulator, stub, tmp_path):
    from speech_emulator import display_models
    rescore = display_models.model_id("en-US", "Rescore", display_models.RELEASES[-1])
    cstt = start_emulator("custom-speech-to-text", *connected(stub), f"ModelId={CUSTOM_MODEL}",
                          f"Emulator:ModelsPath={tmp_path}", f"RescoreId={rescore}")
    assert downloaded_display_models(tmp_path) == [("rescore", rescore)]
    body = get_json(cstt.url + "/emulator/models")[1]
    assert body["model"]["id"] == CUSTOM_MODEL and [m["id"] for m in body["displayModels"]] == [rescore]


def test_a_container_uses_the_display_models_of_its_models_folder(start_emulator, stub, tmp_path):
    from speech_emulator import display_models
    assert display_run(stub, tmp_path, "DisplayLocale=en-US", "Punct", "Wfstitn").returncode == 0
    assert display_run(stub, tmp_path, "DisplayLocale=de-DE", "Punct").returncode == 0
    older = display_models.model_id("en-US", "Punct", display_models.RELEASES[0])
    assert display_run(stub, tmp_path, f"PunctId={older}").returncode == 0
    cstt = start_emulator("custom-speech-to-text", *connected(stub), f"ModelId={CUSTOM_MODEL}",
                          f"Emulator:ModelsPath={tmp_path}")
    used = get_json(cstt.url + "/emulator/models")[1]["displayModels"]
    assert [(m["type"], m["id"]) for m in used] == [(e["type"], e["id"]) for e in
                                                    display_models.latest("en-US", ("Punct", "Wfstitn"))]
    output = cstt.process.output()
    assert "Display models in use: Punct" in output and "it is for de-DE" in output


@pytest.mark.parametrize("words, message", [
    (("punct",), "Unknown argument(s) 'punct'"),
    (("FullDisplay", "Capitalize"), "Unknown argument(s) 'Capitalize'"),
    (("DisplayLocale=en-US",), "needs the display model types"),
    (("Punct",), "need DisplayLocale=<locale> to download them"),
])
def test_display_model_arguments_the_container_refuses(stub, tmp_path, words, message):
    result = display_run(stub, tmp_path, *words)
    assert result.returncode != 0 and message in result.stderr


def test_bare_words_are_refused_by_the_other_kinds(stub):
    result = run_once(*connected(stub), "FullDisplay", kind="speech-to-text")
    assert result.returncode != 0 and "takes Key=Value settings only" in result.stderr


@pytest.mark.parametrize("settings", [("DisplayLocale=en-US", "FullDisplay"), ("BaseModelLocale=en-US", "Punct")])
def test_versions_before_3_1_0_take_no_display_models(stub, tmp_path, settings):
    result = display_run(stub, tmp_path, *settings, version="3.0.0")
    assert result.returncode != 0
    assert "Display models need custom-speech-to-text 3.1.0 or later; this container is version 3.0.0" in result.stderr


def test_version_3_1_0_takes_display_models(stub, tmp_path):
    assert display_run(stub, tmp_path, "DisplayLocale=en-US", "Punct", version="3.1.0").returncode == 0
