"""What the emulated recognizer "recognizes". It does no real speech recognition.

1. Speech segments: a sample counts as speech when its amplitude exceeds SPEECH_THRESHOLD; a
   segment ends after MIN_GAP_SECONDS without speech. Each segment becomes one recognized phrase,
   so continuous recognition of audio with N pauses yields N phrases. Audio without any segment
   gives RecognitionStatus InitialSilenceTimeout (the SDK's NoMatch).
2. Phrase table: at start-up (the "model paging" warm-up) the recognizer renders every phrase of
   catalog.PHRASES for its locale(s) with every catalog voice of that locale through espeak-ng at
   16 kHz, the same way the emulator's TTS kinds do, and keys the table by the SHA-1 of the PCM from
   the first to the last speech sample. A segment whose samples hash to a key is recognized as
   that phrase (and language). Any other segment is recognized as
   "Speech emulator heard N.N seconds of speech." (its duration, one decimal).
3. Language detection: the matched phrase's locale if it is one of the candidate languages the
   client sent (or the client sent none); otherwise the first candidate; otherwise the container's
   own locale.

So audio synthesized by the emulator (raw-16khz-16bit-mono-pcm, or riff- with the header removed)
of a catalog phrase round-trips to its exact text; any other audio gives one duration phrase per
pause-separated segment.
"""
import array
import asyncio
import hashlib
import sys

from . import audio, catalog

RATE = 16000
SPEECH_THRESHOLD = 500
MIN_GAP_SECONDS = 0.3
MIN_SEGMENT_SECONDS = 0.05
BLOCK_SAMPLES = 512  # samples the segmenter looks at together (must stay below the gap, MIN_GAP_SECONDS)


def _loud(value):
    return value > SPEECH_THRESHOLD or value < -SPEECH_THRESHOLD


class Segmenter:
    """Finds speech segments in a growing 16-bit mono PCM stream; positions are sample indices."""

    def __init__(self, rate=RATE):
        self.rate = rate
        self.pcm = bytearray()
        self._scanned = 0
        self._start = None
        self._last_loud = 0
        self._gap = int(MIN_GAP_SECONDS * rate)
        self._min_length = int(MIN_SEGMENT_SECONDS * rate)

    def feed(self, data):
        """Append PCM; return the segments closed by a long enough pause."""
        self.pcm += data
        samples = array.array("h", bytes(self.pcm[self._scanned * 2:len(self.pcm) - len(self.pcm) % 2]))
        if sys.byteorder != "little":
            samples.byteswap()
        closed = []
        # Block by block, with min() and max() in C: a quiet block needs no look at its samples. A block is shorter
        # than the gap, so inside a block no pause can close a segment, and only the first and last loud samples of a
        # block matter: this finds exactly the segments a sample-by-sample scan finds, at a fraction of the cost.
        block = max(1, min(BLOCK_SAMPLES, self._gap))
        for first in range(0, len(samples), block):
            chunk = samples[first:first + block]
            base = self._scanned + first
            if max(chunk) <= SPEECH_THRESHOLD and min(chunk) >= -SPEECH_THRESHOLD:
                if self._start is not None and base + len(chunk) - 1 - self._last_loud >= self._gap:
                    closed += self._close()
                continue
            loud_first = next(i for i, value in enumerate(chunk) if _loud(value))
            loud_last = next(i for i in range(len(chunk) - 1, -1, -1) if _loud(chunk[i]))
            if self._start is not None and base + loud_first - 1 - self._last_loud >= self._gap:
                closed += self._close()
            if self._start is None:
                self._start = base + loud_first
            self._last_loud = base + loud_last
        self._scanned += len(samples)
        return closed

    def finish(self):
        """End of stream: return the open segment, if any."""
        return self._close() if self._start is not None else []

    def _close(self):
        start, end = self._start, self._last_loud + 1
        self._start = None
        return [(start, end)] if end - start >= self._min_length else []

    def segment_pcm(self, segment):
        return bytes(self.pcm[segment[0] * 2:segment[1] * 2])


def fingerprint(pcm):
    return hashlib.sha1(pcm).hexdigest()


class PhraseTable:
    def __init__(self):
        self.entries = {}  # fingerprint -> (text, locale)

    async def load(self, phrases):
        """Render {locale: [phrase, ...]} with every catalog voice of each locale (once per espeak-ng voice: catalog
        voices of one locale and gender sound the same)."""
        jobs = [(text, locale, espeak_voice) for locale, texts in phrases.items() for text in texts
                for espeak_voice in sorted({catalog.espeak_voice(v) for v in catalog.voices_for_locale(locale)})]
        rendered = await asyncio.gather(*(audio.render(text, espeak_voice, RATE) for text, _, espeak_voice in jobs))
        for (text, locale, _), pcm in zip(jobs, rendered):
            segmenter = Segmenter()
            segments = segmenter.feed(pcm) + segmenter.finish()
            if len(segments) == 1:
                self.entries[fingerprint(segmenter.segment_pcm(segments[0]))] = (text, locale)

    def lookup(self, pcm):
        return self.entries.get(fingerprint(pcm))


def unknown_phrase(samples, rate=RATE):
    return f"Speech emulator heard {samples / rate:.1f} seconds of speech."


def detect_language(matched_locale, candidates, own_locale):
    by_lower = {c.lower(): c for c in candidates}
    if matched_locale and (not candidates or matched_locale.lower() in by_lower):
        return by_lower.get(matched_locale.lower(), matched_locale)
    if candidates:
        return candidates[0]
    return own_locale
