"""Text-to-speech audio: espeak-ng renders the text, the result is converted to the requested format.

espeak-ng writes 16-bit mono PCM at 22050 Hz; audioop resamples it (deterministically, so the
recognizer can render the same phrase and get the same bytes) and encodes a-law/mu-law.
Compressed formats (MP3, Opus, ...) are not produced: there is no encoder in the image.
"""
import asyncio
import collections
import re
import struct
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # in the standard library up to Python 3.12; Debian bookworm has 3.11

ESPEAK_RATE = 22050
_FORMAT = re.compile(r"^(riff|raw)-(\d+)(khz|hz)-(8|16)bit-mono-(pcm|alaw|mulaw)$")


class AudioFormatError(ValueError):
    pass


class OutputFormat:
    def __init__(self, name):
        match = _FORMAT.match(name.strip().lower())
        if not match:
            raise AudioFormatError(f"Unsupported output format: {name}")
        container, rate, unit, bits, encoding = match.groups()
        self.name = match.group(0)
        self.riff = container == "riff"
        self.rate = int(rate) * (1000 if unit == "khz" else 1)
        self.encoding = encoding
        if (encoding == "pcm") != (bits == "16"):
            raise AudioFormatError(f"Unsupported output format: {name}")

    @property
    def content_type(self):
        return "audio/x-wav" if self.riff else ("audio/basic" if self.encoding != "pcm" else "audio/pcm")

    def encode(self, pcm16):
        """PCM 16-bit at self.rate -> bytes in this format (with a RIFF header if riff-)."""
        data = pcm16
        if self.encoding == "alaw":
            data = audioop.lin2alaw(pcm16, 2)
        elif self.encoding == "mulaw":
            data = audioop.lin2ulaw(pcm16, 2)
        if not self.riff:
            return data
        tag, width = {"pcm": (1, 2), "alaw": (6, 1), "mulaw": (7, 1)}[self.encoding]
        return wav_header(len(data), self.rate, width, tag) + data


def wav_header(data_size, rate, width=2, format_tag=1):
    return (b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, format_tag, 1, rate, rate * width, width, width * 8)
            + b"data" + struct.pack("<I", data_size))


def parse_wav(data):
    """(sample_rate, pcm) of a RIFF/WAVE byte string. Chunk sizes of 0 or 0xFFFFFFFF (streamed
    WAV, as espeak-ng and the Speech SDK write them) mean 'up to the end'."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError("not a RIFF/WAVE stream")
    pos, rate = 12, 16000
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            rate = struct.unpack("<I", data[pos + 12:pos + 16])[0]
        elif chunk == b"data":
            end = len(data) if size in (0, 0xFFFFFFFF) else pos + 8 + size
            return rate, data[pos + 8:end]
        pos += 8 + size + (size & 1)
    return rate, b""


def resample(pcm16, from_rate, to_rate):
    if from_rate == to_rate or not pcm16:
        return pcm16
    return audioop.ratecv(pcm16, 2, 1, from_rate, to_rate, None)[0]


RENDER_CACHE_BYTES = 64 * 1024 * 1024
_render_cache = collections.OrderedDict()  # (text, voice, rate) -> PCM, least recently used first
_render_cache_bytes = 0
# espeak-ng's first runs in a fresh container render slightly different samples (seen: the first of 20 runs one after
# the other, and a few of the first ones started side by side); after one run has ended, every run renders the same.
# The recognizer's phrase table keys exact fingerprints of the samples, so one throwaway run comes first.
_warm_up = {"lock": None, "done": False}


async def render(text, espeak_voice, rate):
    """16-bit mono PCM of `text` spoken by espeak-ng, at `rate` Hz. The audio is deterministic, so it is kept
    in a least-recently-used cache of RENDER_CACHE_BYTES: a repeated text costs no espeak-ng process."""
    global _render_cache_bytes
    key = (text, espeak_voice, rate)
    pcm = _render_cache.get(key)
    if pcm is not None:
        _render_cache.move_to_end(key)
        return pcm
    await _warmed_up(espeak_voice)
    source_rate, pcm = parse_wav(await _espeak(text, espeak_voice))
    pcm = resample(pcm, source_rate, rate)
    if key not in _render_cache:
        _render_cache[key] = pcm
        _render_cache_bytes += len(pcm)
        while _render_cache_bytes > RENDER_CACHE_BYTES and len(_render_cache) > 1:
            _render_cache_bytes -= len(_render_cache.popitem(last=False)[1])
    return pcm


async def _espeak(text, espeak_voice):
    """The WAV espeak-ng renders of text."""
    process = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", espeak_voice, "-b", "1", "--stdout", "--stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate(text.encode("utf-8"))
    if process.returncode != 0:
        raise RuntimeError(f"espeak-ng failed: {err.decode(errors='replace').strip()}")
    return out


async def _warmed_up(espeak_voice):
    """One throwaway espeak-ng run before the first one that counts (see _warm_up)."""
    if _warm_up["done"]:
        return
    if _warm_up["lock"] is None:
        _warm_up["lock"] = asyncio.Lock()
    async with _warm_up["lock"]:
        if not _warm_up["done"]:
            await _espeak("ready", espeak_voice)
            _warm_up["done"] = True
