# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive deployed containers with Microsoft's real Speech SDK: synthesize a phrase through a TTS
container, recognize the audio through a speech-to-text container (and a custom one with its
model's phrase), and exit non-zero unless every text comes back exactly. Used by Molecule verify."""

import argparse
import sys
import tempfile

import azure.cognitiveservices.speech as sdk

PHRASE = "What's the weather like?"
CUSTOM_PHRASE = "Contoso support, how can I help you?"


def synthesize(tts_url, voice, text):
    config = sdk.SpeechConfig(host=tts_url)
    config.speech_synthesis_voice_name = voice
    config.set_speech_synthesis_output_format(sdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
    synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    result = synthesizer.speak_text_async(text).get()
    del synthesizer
    if result.reason != sdk.ResultReason.SynthesizingAudioCompleted:
        sys.exit("synthesis through {0} failed: {1}".format(tts_url, result.reason))
    return bytes(result.audio_data)


def recognize(stt_url, audio):
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        wav.write(audio)
        wav.flush()
        recognizer = sdk.SpeechRecognizer(speech_config=sdk.SpeechConfig(host=stt_url),
                                          audio_config=sdk.audio.AudioConfig(filename=wav.name))
        result = recognizer.recognize_once()
        del recognizer
    return result.text if result.reason == sdk.ResultReason.RecognizedSpeech else "<{0}>".format(result.reason)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tts", required=True, help="http://host:port of a neural TTS container")
    parser.add_argument("--voice", default="en-US-AriaNeural")
    parser.add_argument("--stt", required=True, help="ws://host:port of a speech-to-text container")
    parser.add_argument("--cstt", help="ws://host:port of a custom speech-to-text container with the stub's model")
    args = parser.parse_args()
    failures = []
    heard = recognize(args.stt, synthesize(args.tts, args.voice, PHRASE))
    print("stt  {0}: {1!r}".format(args.stt, heard))
    if heard != PHRASE:
        failures.append("stt heard {0!r}, expected {1!r}".format(heard, PHRASE))
    if args.cstt:
        heard = recognize(args.cstt, synthesize(args.tts, args.voice, CUSTOM_PHRASE))
        print("cstt {0}: {1!r}".format(args.cstt, heard))
        if heard != CUSTOM_PHRASE:
            failures.append("custom stt heard {0!r}, expected {1!r}".format(heard, CUSTOM_PHRASE))
    if failures:
        sys.exit("; ".join(failures))


if __name__ == "__main__":
    main()
