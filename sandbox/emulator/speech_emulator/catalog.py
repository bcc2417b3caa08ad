"""What the emulator knows about Microsoft's Speech containers: kinds, voices, phrases, image tags.

Run as a script it prints the image matrix that build.sh builds, one image per line:
    <repository> <tag> <kind> <version> <locale> <voice> <broken> <port>
"""
import collections
import re

REPOSITORY_PREFIX = "azure-cognitive-services/speechservices"

Kind = collections.namedtuple("Kind", "name service port mode disconnected uses_model")
KINDS = {
    k.name: k
    for k in (
        Kind("speech-to-text", "speechtotext", 5000, "recognition", True, False),
        Kind("custom-speech-to-text", "customspeechtotext", 5000, "recognition", True, True),
        Kind("neural-text-to-speech", "neuraltexttospeech", 5000, "synthesis", True, False),
        Kind("language-detection", "languagedetection", 5003, "language", False, False),
        Kind("text-to-speech", "texttospeech", 5000, "synthesis", False, False),
        Kind("custom-text-to-speech", "customtexttospeech", 5000, "synthesis", False, True),
    )
}

# SSML short name -> gender (the espeak-ng variant). The locale is the name's first two parts.
NEURAL_VOICES = {
    "en-US-AriaNeural": "F", "en-US-GuyNeural": "M", "en-US-JennyNeural": "F",
    "de-DE-KatjaNeural": "F", "de-DE-ConradNeural": "M",
    "es-ES-ElviraNeural": "F", "es-ES-AlvaroNeural": "M",
    "fr-FR-DeniseNeural": "F", "fr-FR-HenriNeural": "M",
}
# The standard (legacy) voices: the 1.3.0 locale table of the 2019-2020 container pages, with Microsoft's casing
# stored as it is (Kangkang-Apollo, Jessa24kRUS, Hedda): no suffix rule derives it from a tag. AriaRUS and GuyRUS
# are the 2021 tag list's.
STANDARD_VOICES = {
    "zh-CN-HuihuiRUS": "F", "zh-CN-Kangkang-Apollo": "M", "zh-CN-Yaoyao-Apollo": "F",
    "en-AU-Catherine": "F", "en-AU-HayleyRUS": "F",
    "en-GB-George-Apollo": "M", "en-GB-HazelRUS": "F", "en-GB-Susan-Apollo": "F",
    "en-IN-Heera-Apollo": "F", "en-IN-PriyaRUS": "F", "en-IN-Ravi-Apollo": "M",
    "en-US-JessaRUS": "F", "en-US-BenjaminRUS": "M", "en-US-Jessa24kRUS": "F", "en-US-ZiraRUS": "F",
    "en-US-Guy24kRUS": "M", "en-US-AriaRUS": "F", "en-US-GuyRUS": "M",
    "fr-CA-Caroline": "F", "fr-CA-HarmonieRUS": "F",
    "fr-FR-HortenseRUS": "F", "fr-FR-Julie-Apollo": "F", "fr-FR-Paul-Apollo": "M",
    "de-DE-Hedda": "F", "de-DE-HeddaRUS": "F", "de-DE-Stefan-Apollo": "M",
    "it-IT-Cosimo-Apollo": "M", "it-IT-LuciaRUS": "F",
    "ja-JP-Ayumi-Apollo": "F", "ja-JP-HarukaRUS": "F", "ja-JP-Ichiro-Apollo": "M",
    "ko-KR-HeamiRUS": "F",
    "pt-BR-Daniel-Apollo": "M", "pt-BR-HeloisaRUS": "F",
    "es-ES-ElenaRUS": "F", "es-ES-Laura-Apollo": "F", "es-ES-Pablo-Apollo": "M",
    "es-MX-HildaRUS": "F", "es-MX-Raul-Apollo": "M",
}
VOICES = {**NEURAL_VOICES, **STANDARD_VOICES}
_VOICE_BY_TAG = {voice.lower(): voice for voice in VOICES}
ESPEAK_LANGUAGE = {"en-US": "en-us", "en-GB": "en-gb", "de-DE": "de", "es-ES": "es", "fr-FR": "fr", "zh-CN": "cmn",
                   "es-MX": "es-419", "pt-BR": "pt-br"}

# The phrases the recognizer can "recognize" (see recognition.py). The TTS kinds speak them with
# espeak-ng; the recognizer renders them the same way at start-up and matches audio against them.
PHRASES = {
    "en-US": ["What's the weather like?", "Turn on the lights in the kitchen.",
              "The quick brown fox jumps over the lazy dog."],
    "de-DE": ["Wie wird das Wetter morgen?", "Schalte das Licht in der Küche ein."],
    "es-ES": ["¿Qué tiempo hace hoy?", "Enciende las luces de la cocina."],
    "fr-FR": ["Quel temps fait-il aujourd'hui?", "Allume la lumière dans la cuisine."],
}


def canonical_locale(locale):
    """'en-us' -> 'en-US', 'zh-cn-sichuan' -> 'zh-CN-sichuan'."""
    parts = locale.split("-")
    if len(parts) < 2:
        return parts[0].lower()
    return "-".join([parts[0].lower(), parts[1].upper()] + [p.lower() for p in parts[2:]])


def voice_from_tag(tag_voice):
    """The SSML voice name of a tag's voice part. A catalog voice keeps Microsoft's casing ('zh-cn-kangkang-apollo'
    -> 'zh-CN-Kangkang-Apollo'); another neural voice follows the neural grammar ('zh-cn-xiaochenneural' ->
    'zh-CN-XiaochenNeural'); any other voice is unknown (ValueError)."""
    known = _VOICE_BY_TAG.get(tag_voice.lower())
    if known:
        return known
    language, region, name = tag_voice.split("-", 2)
    if "-" in name or not name.lower().endswith("neural"):
        raise ValueError(f"{tag_voice!r} is not a catalog voice, and only a neural voice's casing follows from its tag.")
    return f"{language.lower()}-{region.upper()}-{name[:-len('neural')].capitalize()}Neural"


def custom_voice(model_id):
    """The voice of a custom text-to-speech model the catalog does not know: derived from the model ID
    ('1a2b3c4d-…' -> 'en-US-Custom1A2B3C4DNeural'), so that a container of any model ID speaks a stable voice."""
    return f"en-US-Custom{model_id.replace('-', '')[:8].upper()}Neural"


def voice_locale(voice):
    return "-".join(voice.split("-")[:2])


def espeak_voice(voice):
    locale = voice_locale(voice)
    language = ESPEAK_LANGUAGE.get(locale, locale.split("-")[0].lower())
    return language + ("+m3" if VOICES.get(voice, "F") == "M" else "+f3")


def voices_for_locale(locale):
    return [v for v in VOICES if voice_locale(v) == locale] or [f"{locale}-EmulatorNeural"]


def _voice_rate(voice):
    return "24000" if voice.endswith("Neural") or "24k" in voice else "16000"


def voice_entry(voice):
    """One element of GET /cognitiveservices/voices/list."""
    locale = voice_locale(voice)
    short = voice.split("-", 2)[2]
    display = re.sub(r"(Neural|24kRUS|RUS|-Apollo)$", "", short)
    return {
        "Name": f"Microsoft Server Speech Text to Speech Voice ({locale}, {short.replace('-', ', ')})",
        "DisplayName": display, "LocalName": display,
        "ShortName": voice, "Gender": "Male" if VOICES.get(voice) == "M" else "Female",
        "Locale": locale, "SampleRateHertz": _voice_rate(voice),
        "VoiceType": "Neural" if voice.endswith("Neural") else "Standard", "Status": "GA",
    }


# Image matrix: kind -> (good versions, broken version, variants, latest variant, tag format).
# A variant is a locale (STT), a tag voice (TTS kinds) or None. The broken version never gets ready.
_MATRIX = {
    "speech-to-text": (["5.0.0", "5.1.0"], "5.2.0", ["en-us", "de-de", "es-es", "fr-fr"], "en-us",
                       "{version}-amd64-{variant}"),
    "custom-speech-to-text": (["5.0.0", "5.1.0"], "5.2.0", [None], None, "{version}-amd64"),
    "neural-text-to-speech": (["4.0.0", "4.1.0"], "4.2.0",
                              ["en-us-arianeural", "en-us-guyneural", "de-de-katjaneural",
                               "es-es-elviraneural", "fr-fr-deniseneural"], "en-us-arianeural",
                              "{version}-amd64-{variant}"),
    "language-detection": (["1.17.0", "1.18.0"], "1.19.0", [None], None, "{version}-amd64-preview"),
    # 1.3.0 and 1.4.0: the versions of the 2019-11 and 2020-05 pages; `latest` is en-US-JessaRUS there.
    "text-to-speech": (["1.3.0", "1.4.0"], None, ["en-us-jessarus", "zh-cn-kangkang-apollo", "de-de-hedda"],
                       "en-us-jessarus", "{version}-amd64-{variant}-preview"),
    "custom-text-to-speech": (["1.3.0", "1.4.0"], None, [None], None, "{version}-amd64-preview"),
}


def image_matrix():
    """Yield (repository, tag, kind, version, locale, voice, broken) for every emulator image."""
    for kind, (versions, broken, variants, latest_variant, fmt) in _MATRIX.items():
        repository = f"{REPOSITORY_PREFIX}/{kind}"
        for version in versions + ([broken] if broken else []):
            for variant in variants:
                yield (repository, fmt.format(version=version, variant=variant), kind, version,
                       *_locale_voice(kind, variant), version == broken)
        yield (repository, "latest", kind, versions[-1], *_locale_voice(kind, latest_variant), False)


def _locale_voice(kind, variant):
    if variant is None:
        return "", ""
    if KINDS[kind].mode == "synthesis":
        voice = voice_from_tag(variant)
        return voice_locale(voice), voice
    return canonical_locale(variant), ""


if __name__ == "__main__":
    for row in image_matrix():
        print(" ".join(str(x) if x != "" else "-" for x in row), KINDS[row[2]].port)
