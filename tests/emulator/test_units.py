"""Pure-Python parts of the emulator: settings, catalog, audio formats, segmentation, licences."""
import array
import asyncio
import math
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech_emulator import audio, catalog, display_models, licensing, recognition, synthesis
from speech_emulator.settings import Settings, SettingsError


def test_settings_keys_are_case_insensitive_and_nest_with_colon_or_double_underscore():
    settings = Settings.from_sources(["EULA=accept", "mounts:license=/lic"],
                                     {"Billing": "http://b/", "Logging__Disk__Format": "json"})
    assert settings.get("Eula") == "accept"
    assert settings.get("Mounts:License") == "/lic"
    assert settings.get("logging:disk:format") == "json"
    assert settings.get("BILLING") == "http://b/"


def test_arguments_override_environment_and_bare_words_are_kept_as_written():
    settings = Settings.from_sources(["apikey=from-arg", "FullDisplay", "punct"], {"ApiKey": "from-env"})
    assert settings.get("ApiKey") == "from-arg"
    assert settings.words == ["FullDisplay", "punct"]
    assert settings.flag("fulldisplay") is False
    assert settings.flag("DownloadLicense") is False


def test_value_may_contain_equals_and_empty_key_is_rejected():
    assert Settings.from_sources(["Billing=http://h/?a=b"], {}).get("billing") == "http://h/?a=b"
    with pytest.raises(SettingsError):
        Settings.from_sources(["=x"], {})


@pytest.mark.parametrize("tag_voice, voice", [
    ("en-us-arianeural", "en-US-AriaNeural"), ("de-de-katjaneural", "de-DE-KatjaNeural"),
    ("en-us-jessarus", "en-US-JessaRUS"), ("zh-cn-xiaochenneural", "zh-CN-XiaochenNeural"),
    ("zh-cn-kangkang-apollo", "zh-CN-Kangkang-Apollo"), ("de-de-hedda", "de-DE-Hedda"),
    ("en-us-jessa24krus", "en-US-Jessa24kRUS"), ("en-au-catherine", "en-AU-Catherine")])
def test_voice_names_keep_microsofts_casing(tag_voice, voice):
    assert catalog.voice_from_tag(tag_voice) == voice


@pytest.mark.parametrize("tag_voice", ["zh-cn-unknown-apollo", "de-de-nobody", "en-us-nobodyrus"])
def test_a_standard_voice_outside_the_catalog_is_unknown(tag_voice):
    with pytest.raises(ValueError, match="not a catalog voice"):
        catalog.voice_from_tag(tag_voice)


def test_standard_voices_are_listed_as_microsoft_lists_them():
    entry = catalog.voice_entry("zh-CN-Kangkang-Apollo")
    assert entry["Name"] == "Microsoft Server Speech Text to Speech Voice (zh-CN, Kangkang, Apollo)"
    assert (entry["DisplayName"], entry["Gender"], entry["Locale"], entry["VoiceType"], entry["SampleRateHertz"]) == \
        ("Kangkang", "Male", "zh-CN", "Standard", "16000")
    assert catalog.voice_entry("en-US-Jessa24kRUS")["SampleRateHertz"] == "24000"


def test_a_custom_voice_follows_from_its_model_id():
    assert catalog.custom_voice("1a2b3c4d-0000-4000-8000-000000000000") == "en-US-Custom1A2B3C4DNeural"


def test_image_matrix_has_an_upgrade_path_and_a_broken_version_per_main_kind():
    rows = list(catalog.image_matrix())
    for kind in ("speech-to-text", "custom-speech-to-text", "neural-text-to-speech", "language-detection"):
        good = {r[3] for r in rows if r[2] == kind and not r[6]}
        broken = {r[3] for r in rows if r[2] == kind and r[6]}
        assert len(good) >= 2 and len(broken) == 1, kind
        assert all(r[1] != "latest" for r in rows if r[2] == kind and r[6])
    tags = {(r[0].rsplit("/", 1)[1], r[1]) for r in rows}
    assert ("speech-to-text", "5.1.0-amd64-en-us") in tags
    assert ("neural-text-to-speech", "4.1.0-amd64-en-us-arianeural") in tags
    assert ("language-detection", "1.18.0-amd64-preview") in tags
    assert all(r[0].startswith("azure-cognitive-services/speechservices/") for r in rows)
    assert all(re.fullmatch(r"latest|\d+\.\d+\.\d+-amd64(-[a-z-]+)?", r[1]) for r in rows)
    latest = {r[2]: r for r in rows if r[1] == "latest"}
    assert latest["neural-text-to-speech"][5] == "en-US-AriaNeural"
    assert latest["speech-to-text"][4] == "en-US"


def test_image_matrix_has_the_legacy_text_to_speech_tags_of_the_2019_2020_pages():
    rows = {(r[0].rsplit("/", 1)[1], r[1]): r for r in catalog.image_matrix()}
    for tag_voice, voice in (("en-us-jessarus", "en-US-JessaRUS"), ("zh-cn-kangkang-apollo", "zh-CN-Kangkang-Apollo"),
                             ("de-de-hedda", "de-DE-Hedda")):
        assert rows[("text-to-speech", f"1.4.0-amd64-{tag_voice}-preview")][5] == voice
    assert rows[("text-to-speech", "latest")][3:6] == ("1.4.0", "en-US", "en-US-JessaRUS")
    assert ("custom-text-to-speech", "1.4.0-amd64-preview") in rows


def test_language_detection_listens_on_5003_and_the_rest_on_5000():
    assert catalog.KINDS["language-detection"].port == 5003
    assert {k.port for n, k in catalog.KINDS.items() if n != "language-detection"} == {5000}


@pytest.mark.parametrize("name, rate, riff, encoding", [
    ("riff-24khz-16bit-mono-pcm", 24000, True, "pcm"), ("raw-16khz-16bit-mono-pcm", 16000, False, "pcm"),
    ("riff-8khz-8bit-mono-mulaw", 8000, True, "mulaw"), ("RIFF-44100HZ-16BIT-MONO-PCM", 44100, True, "pcm")])
def test_output_formats_are_parsed(name, rate, riff, encoding):
    fmt = audio.OutputFormat(name)
    assert (fmt.rate, fmt.riff, fmt.encoding) == (rate, riff, encoding)


@pytest.mark.parametrize("name", ["audio-16khz-32kbitrate-mono-mp3", "riff-16khz-8bit-mono-pcm", "nonsense"])
def test_unsupported_output_formats_are_refused(name):
    with pytest.raises(audio.AudioFormatError):
        audio.OutputFormat(name)


def test_riff_encoding_writes_a_header_that_parse_wav_reads_back():
    pcm = array.array("h", [0, 1000, -1000, 0]).tobytes()
    encoded = audio.OutputFormat("riff-16khz-16bit-mono-pcm").encode(pcm)
    assert encoded[:4] == b"RIFF" and len(encoded) == 44 + len(pcm)
    assert audio.parse_wav(encoded) == (16000, pcm)
    mulaw = audio.OutputFormat("raw-8khz-8bit-mono-mulaw").encode(pcm)
    assert len(mulaw) == len(pcm) // 2


def _tone(seconds, rate=16000, amplitude=8000):
    return array.array("h", (int(amplitude * math.sin(2 * math.pi * 440 * i / rate))
                             for i in range(int(seconds * rate)))).tobytes()


def _silence(seconds, rate=16000):
    return bytes(2 * int(seconds * rate))


def test_segmenter_splits_on_pauses_even_when_fed_in_odd_sized_chunks():
    stream = _silence(0.2) + _tone(0.5) + _silence(0.6) + _tone(0.3) + _silence(0.1) + _tone(0.2) + _silence(0.5)
    segmenter = recognition.Segmenter()
    segments = []
    for pos in range(0, len(stream), 3201):
        segments += segmenter.feed(stream[pos:pos + 3201])
    segments += segmenter.finish()
    assert len(segments) == 2  # the 0.1 s pause is shorter than MIN_GAP_SECONDS
    assert abs(segments[0][0] - 3200) < 20 and abs((segments[0][1] - segments[0][0]) - 8000) < 40
    assert recognition.unknown_phrase(segments[0][1] - segments[0][0]) == "Speech emulator heard 0.5 seconds of speech."


def test_phrase_table_recognizes_rendered_catalog_phrases_only():
    async def build():
        table = recognition.PhraseTable()
        await table.load({"en-US": ["What's the weather like?"]})
        pcm = await audio.render("What's the weather like?", catalog.espeak_voice("en-US-GuyNeural"), 16000)
        other = await audio.render("Something else entirely.", catalog.espeak_voice("en-US-GuyNeural"), 16000)
        return table, pcm, other

    table, pcm, other = asyncio.run(build())
    segmenter = recognition.Segmenter()
    segments = segmenter.feed(_silence(0.3) + pcm) + segmenter.finish()
    assert table.lookup(segmenter.segment_pcm(segments[0])) == ("What's the weather like?", "en-US")
    segmenter = recognition.Segmenter()
    segments = segmenter.feed(other) + segmenter.finish()
    assert table.lookup(segmenter.segment_pcm(segments[0])) is None


def test_language_detection_rule():
    assert recognition.detect_language("de-DE", ["en-US", "de-DE"], "en-US") == "de-DE"
    assert recognition.detect_language("fr-FR", ["en-US", "de-DE"], "en-US") == "en-US"
    assert recognition.detect_language(None, ["es-ES", "de-DE"], "en-US") == "es-ES"
    assert recognition.detect_language(None, [], "fr-FR") == "fr-FR"


def test_ssml_voice_must_match_case_sensitively():
    ssml = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis'><voice name='en-us-arianeural'>hi</voice></speak>"
    with pytest.raises(synthesis.SynthesisError, match="Voice does not match"):
        asyncio.run(synthesis.synthesize(ssml, "en-US-AriaNeural", 16000))
    with pytest.raises(synthesis.SynthesisError):
        synthesis.parse_ssml("<speak>no voice</speak>")
    assert synthesis.parse_ssml("<speak><voice name='v'>a <b>b</b></voice></speak>") == [("v", "a b")]


def test_licences_are_tied_to_kind_signature_and_expiry(tmp_path):
    licensing.write(tmp_path, licensing.issue("speech-to-text", "k", days=1))
    assert licensing.load_valid(str(tmp_path), "speech-to-text")["containerType"] == "speech-to-text"
    with pytest.raises(licensing.LicenseError, match="not neural-text-to-speech"):
        licensing.load_valid(str(tmp_path), "neural-text-to-speech")
    forged = licensing.issue("neural-text-to-speech", "k", days=1)
    forged["expiresAt"] = "2999-01-01T00:00:00+00:00"
    licensing.write(tmp_path, forged)
    with pytest.raises(licensing.LicenseError, match="signature"):
        licensing.load_valid(str(tmp_path), "neural-text-to-speech")
    expired_dir = tmp_path / "old"
    expired_dir.mkdir()
    licensing.write(expired_dir, licensing.issue("speech-to-text", "k", days=-1))
    with pytest.raises(licensing.LicenseError, match="expired"):
        licensing.load_valid(str(expired_dir), "speech-to-text")
    with pytest.raises(licensing.LicenseError, match="license path was not found"):
        licensing.load_valid(str(tmp_path / "missing"), "speech-to-text")


def test_display_types_are_the_documented_words():
    assert display_models.types_from_words(["Wfstitn", "Punct"]) == ("Punct", "Wfstitn")
    assert display_models.types_from_words(["FullDisplay"]) == display_models.TYPES
    with pytest.raises(display_models.DisplayModelError, match="'PUNCT'"):
        display_models.types_from_words(["PUNCT"])


def test_display_model_ids_are_stable_and_the_latest_release_wins():
    latest = display_models.latest("en-us", ("Punct",))
    assert [entry["id"] for entry in latest] == [display_models.model_id("en-US", "Punct", display_models.RELEASES[-1])]
    assert display_models.by_id(latest[0]["id"]) == latest[0]
    assert display_models.latest("ja-JP", display_models.TYPES) == []


@pytest.mark.parametrize("version, supported", [("3.0.0", False), ("3.1.0", True), ("5.1.0", True), ("2.12.1", False)])
def test_display_models_start_with_version_3_1_0(version, supported):
    assert display_models.supports_display_models(version) is supported


class _SampleBySampleSegmenter(recognition.Segmenter):
    """The segmenter's rule applied to one sample after the other: the reference its block scan must match."""

    def feed(self, data):
        self.pcm += data
        samples = array.array("h", bytes(self.pcm[self._scanned * 2:len(self.pcm) - len(self.pcm) % 2]))
        closed = []
        for offset, value in enumerate(samples):
            index = self._scanned + offset
            if value > recognition.SPEECH_THRESHOLD or value < -recognition.SPEECH_THRESHOLD:
                if self._start is None:
                    self._start = index
                self._last_loud = index
            elif self._start is not None and index - self._last_loud >= self._gap:
                closed += self._close()
        self._scanned += len(samples)
        return closed


def _bursts():
    """PCM made of quiet and loud stretches of random lengths (some shorter than the gap, some longer), fed in
    random-sized chunks."""
    stretch = st.tuples(st.booleans(), st.integers(1, 7000))
    return st.tuples(st.lists(stretch, min_size=1, max_size=12), st.lists(st.integers(1, 9000), min_size=1, max_size=8),
                     st.integers(0, 2 ** 31))


@settings(max_examples=150, deadline=None)
@given(_bursts())
def test_the_block_scan_finds_exactly_the_segments_of_a_sample_by_sample_scan(case):
    stretches, chunk_sizes, seed = case
    generator = random.Random(seed)
    samples = array.array("h")
    for loud, length in stretches:
        limit = 20000 if loud else recognition.SPEECH_THRESHOLD
        # a loud stretch still holds quiet samples (speech crosses zero), a quiet one never a loud sample
        samples.extend(generator.randint(-limit, limit) for _sample in range(length))
    stream = samples.tobytes()
    found = []
    for segmenter in (recognition.Segmenter(), _SampleBySampleSegmenter()):
        segments, position, turn = [], 0, 0
        while position < len(stream):
            size = chunk_sizes[turn % len(chunk_sizes)]
            segments += segmenter.feed(stream[position:position + size])
            position, turn = position + size, turn + 1
        found.append(segments + segmenter.finish())
    assert found[0] == found[1]
