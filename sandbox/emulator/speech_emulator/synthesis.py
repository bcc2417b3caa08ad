"""SSML in, PCM out: the text-to-speech kinds' request handling."""
import xml.etree.ElementTree as ElementTree

from . import audio, catalog

VOICE_MISMATCH = "Synthesis failed. StatusCode: InvalidArgument, Details: Voice does not match."


class SynthesisError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def parse_ssml(ssml):
    """[(voice name, text)] for each <voice> element of an SSML document."""
    try:
        root = ElementTree.fromstring(ssml)
    except ElementTree.ParseError as error:
        raise SynthesisError(f"Synthesis failed. StatusCode: InvalidArgument, Details: SSML is invalid: {error}.") from None
    if _local(root.tag) != "speak":
        raise SynthesisError("Synthesis failed. StatusCode: InvalidArgument, Details: The root element must be speak.")
    voices = [(element.get("name", ""), " ".join("".join(element.itertext()).split()))
              for element in root.iter() if _local(element.tag) == "voice"]
    if not voices:
        raise SynthesisError("Synthesis failed. StatusCode: InvalidArgument, Details: SSML needs a voice element.")
    return voices


async def synthesize(ssml, container_voice, rate):
    """(16-bit PCM at `rate` Hz, the spoken text). Every <voice> must name the container's voice
    (case-sensitive), as a real container serves only the voice of its image."""
    pieces = parse_ssml(ssml)
    if any(name != container_voice for name, _ in pieces):
        raise SynthesisError(VOICE_MISMATCH)
    text = " ".join(t for _, t in pieces if t)
    if not text:
        return b"", text
    return await audio.render(text, catalog.espeak_voice(container_voice), rate), text
