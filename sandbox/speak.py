# Copyright: (c) 2026, speechops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end of `make demo`: synthesize a sentence through every text-to-speech container of the
sandbox (its backends in the endpoints catalog that site.yml wrote), save each as a WAV file, and
print the endpoints table and where the files are. Talks only to the sandbox's own containers."""

import argparse
import json
import pathlib
import sys
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "collections"))
from ansible_collections.speechops.speech.plugins.module_utils.image_ref import parse_image_reference  # noqa: E402

SENTENCE = "Hello from the speech ops sandbox. This sentence was synthesized by {container}."
SSML = ('<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="{lang}">'
        '<voice name="{voice}">{text}</voice></speak>')
TTS_KINDS = ("neural-text-to-speech", "text-to-speech")


def voice_of(plan, service):
    """The SSML voice of the service's image tag (en-us-arianeural -> en-US-AriaNeural), by the collection's parser."""
    return parse_image_reference(plan["services"][service]["image"])["ssml_voice"]


def synthesize(url, voice, text):
    request = urllib.request.Request(
        url + "/speech/synthesize/cognitiveservices/v1",
        data=SSML.format(lang=voice[:5], voice=voice, text=text).encode("utf-8"),
        headers={"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-24khz-16bit-mono-pcm"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return response.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("artifacts", type=pathlib.Path, help="speech_artifacts_dir (speech-plan.json, speech-endpoints.*)")
    parser.add_argument("out", type=pathlib.Path, help="folder for the WAV files")
    args = parser.parse_args()
    plan = json.loads((args.artifacts / "speech-plan.json").read_text())
    endpoints = json.loads((args.artifacts / "speech-endpoints.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for service, entry in sorted(endpoints["services"].items()):
        if entry["kind"] not in TTS_KINDS:
            continue
        voice = voice_of(plan, service)
        for backend in entry["backends"]:
            audio = synthesize(backend["url"], voice, SENTENCE.format(container=backend["container"].replace("-", " ")))
            if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
                sys.exit("{0}: {1} did not return a WAV file".format(service, backend["url"]))
            path = args.out / "{0}.wav".format(backend["container"])
            path.write_bytes(audio)
            written.append((path, len(audio), voice, backend["url"]))
    print((args.artifacts / "speech-endpoints.md").read_text())
    if not written:
        sys.exit("no text-to-speech service in the plan: add one to speech_services to hear the demo")
    for path, size, voice, url in written:
        print("synthesized with {0} at {1}: {2} ({3} bytes)".format(voice, url, path, size))


if __name__ == "__main__":
    main()
