"""The Speech SDK's WebSocket protocol (USP) as the emulator speaks it.

Framing (as the Speech SDK 1.53 sends and accepts it): a text frame is CRLF header lines, an
empty line, then the body; a binary frame is a 2-byte big-endian header length, the header lines,
then the payload. The native SDK matches header names case-sensitively: always write exactly
``Path`` and ``X-RequestId``, and answer with the X-RequestId of the current turn.
"""
import datetime
import json
import logging
import uuid

import aiohttp

from . import audio, recognition, synthesis

log = logging.getLogger("speech_emulator.usp")
TICKS_PER_SECOND = 10_000_000
AUDIO_FRAME_SECONDS = 0.5


class Refused(Exception):
    """The service does not serve this turn (billing, licence); the WebSocket is closed."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _timestamp():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def text_message(path, request_id, body=None):
    lines = [f"X-Timestamp:{_timestamp()}", f"Path:{path}", f"X-RequestId:{request_id}"]
    if body is not None:
        lines.append("Content-Type:application/json; charset=utf-8")
    payload = "" if body is None else json.dumps(body, ensure_ascii=False)
    return "\r\n".join(lines) + "\r\n\r\n" + payload


def audio_message(request_id, payload, stream_id):
    header = f"X-Timestamp:{_timestamp()}\r\nPath:audio\r\nX-RequestId:{request_id}\r\nX-StreamId:{stream_id}\r\n"
    encoded = header.encode("ascii")
    return len(encoded).to_bytes(2, "big") + encoded + payload


def _headers(block):
    headers = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_text(data):
    head, _, body = data.partition("\r\n\r\n")
    return _headers(head), body


def parse_binary(data):
    size = int.from_bytes(data[:2], "big")
    return _headers(data[2:2 + size].decode("ascii", errors="replace")), data[2 + size:]


def _ticks(samples, rate=recognition.RATE):
    return samples * TICKS_PER_SECOND // rate


async def serve(ws, handler):
    """Feed every frame to `handler` until the client closes; close on Refused; then handler.end()."""
    try:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                headers, body = parse_text(message.data)
                log.debug("<- text %s %s", headers.get("path"), headers.get("x-requestid"))
                await handler.on_text(headers, body)
            elif message.type == aiohttp.WSMsgType.BINARY:
                headers, payload = parse_binary(message.data)
                await handler.on_audio(headers, payload)
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
    except Refused as refused:
        log.warning("closing the WebSocket: %s", refused.reason)
        await ws.close(code=refused.code, message=refused.reason.encode("utf-8")[:120])
    except Exception:  # a bad message must not kill the server; the client sees 1011 like the real service
        log.exception("error in a WebSocket turn")
        await ws.close(code=1011, message=b"Internal service error.")
    finally:
        handler.end()


class RecognitionSession:
    """One STT/LID WebSocket connection; each speech.context starts a turn."""

    def __init__(self, ws, service, endpoint, query):
        self.ws, self.service, self.endpoint, self.query = ws, service, endpoint, query
        self.turn = None
        self.decoder = False  # whether this session holds one of the container's engine slots

    async def on_text(self, headers, body):
        path = headers.get("path", "").lower()
        if path == "speech.context":
            self.service.check_serving()
            context = json.loads(body) if body.strip() else {}
            self.release_decoder()
            await self.service.take_decoder()
            self.decoder = True
            self.turn = RecognitionTurn(self, headers.get("x-requestid", uuid.uuid4().hex), context)
            await self.turn.start()

    def release_decoder(self):
        if self.decoder:
            self.decoder = False
            self.service.give_back_decoder()

    def end(self):
        self.release_decoder()

    async def on_audio(self, headers, payload):
        if self.turn is not None and not self.turn.done:
            await self.turn.audio(payload)


class RecognitionTurn:
    def __init__(self, session, request_id, context):
        self.session, self.request_id = session, request_id
        service, query = session.service, session.query
        language_id = context.get("languageId") or {}
        self.candidates = list(language_id.get("languages") or
                               [x for x in query.get("lidEnabled", "").split(",") if x])
        self.detect_language = bool(self.candidates) or session.endpoint == "universal"
        phrase_mode = ((context.get("phraseDetection") or {}).get("mode") or "").lower()
        self.language_only = session.endpoint == "universal" or phrase_mode == "none"
        output = (context.get("phraseOutput") or {}).get("format", "")
        self.detailed = query.get("format", "").lower() == "detailed" or output.lower() == "detailed"
        self.single_shot = session.endpoint == "interactive"
        self.own_locale = service.locale
        self.segmenter = recognition.Segmenter()
        self.resample_state, self.source_rate = None, recognition.RATE
        self.header_seen, self.phrases, self.done, self.speech_end = False, 0, False, 0

    async def send(self, path, body=None):
        await self.session.ws.send_str(text_message(path, self.request_id, body))

    async def start(self):
        await self.send("turn.start", {"context": {"serviceTag": uuid.uuid4().hex}})

    async def audio(self, payload):
        if not payload:
            await self.finish()
            return
        if not self.header_seen:
            self.header_seen = True
            if payload[:4] == b"RIFF":
                self.source_rate, payload = audio.parse_wav(payload)
        if self.source_rate != recognition.RATE:
            payload, self.resample_state = audio.audioop.ratecv(
                payload, 2, 1, self.source_rate, recognition.RATE, self.resample_state)
        for segment in self.segmenter.feed(payload):
            await self.emit(segment)
            if self.single_shot:
                await self.finish()
                return

    async def emit(self, segment):
        start, end = segment
        pcm = self.segmenter.segment_pcm(segment)
        match = self.session.service.phrase_table.lookup(pcm)
        text, locale = match if match else (recognition.unknown_phrase(end - start), None)
        offset, duration = _ticks(start), _ticks(end - start)
        self.speech_end = end
        if self.phrases == 0:
            await self.send("speech.startDetected", {"Offset": offset})
        self.phrases += 1
        lexical = "".join(c for c in text.lower() if c.isalnum() or c in " '").strip()
        phrase = {"RecognitionStatus": "Success", "Offset": offset, "Duration": duration}
        if not self.language_only:
            await self.send("speech.hypothesis", {"Text": lexical, "Offset": offset, "Duration": duration})
            phrase["DisplayText"] = text
            if self.detailed:
                phrase["NBest"] = [{"Confidence": 0.97 if match else 0.5, "Lexical": lexical, "ITN": lexical,
                                    "MaskedITN": lexical, "Display": text}]
        if self.detect_language:
            language = recognition.detect_language(locale, self.candidates, self.own_locale)
            phrase["PrimaryLanguage"] = {"Language": language, "Confidence": "High" if match else "Low"}
        await self.send("speech.phrase", phrase)

    async def finish(self):
        if self.done:
            return
        self.done = True
        for segment in self.segmenter.finish():
            await self.emit(segment)
        total = len(self.segmenter.pcm) // 2
        if self.phrases == 0:
            await self.send("speech.phrase", {"RecognitionStatus": "InitialSilenceTimeout",
                                              "Offset": 0, "Duration": _ticks(total)})
        else:
            # The SDK itself reports audio after the last phrase as a NoMatch result in continuous mode.
            await self.send("speech.endDetected", {"Offset": _ticks(self.speech_end)})
        await self.send("turn.end", {})
        self.session.release_decoder()
        self.session.service.record_usage("AudioSeconds", round(total / recognition.RATE, 3))


class SynthesisSession:
    """One TTS WebSocket connection; each ssml message is a turn."""

    def __init__(self, ws, service):
        self.ws, self.service = ws, service
        self.output_format = "raw-16khz-16bit-mono-pcm"

    async def on_text(self, headers, body):
        path = headers.get("path", "").lower()
        if path == "synthesis.context":
            context = json.loads(body) if body.strip() else {}
            requested = ((context.get("synthesis") or {}).get("audio") or {}).get("outputFormat")
            if requested:
                self.output_format = requested
        elif path == "ssml":
            await self.synthesize(headers.get("x-requestid", uuid.uuid4().hex), body)

    async def on_audio(self, headers, payload):
        pass

    def end(self):
        pass

    async def synthesize(self, request_id, ssml):
        self.service.check_serving()
        async with self.service.engine:
            await self._synthesize(request_id, ssml)

    async def _synthesize(self, request_id, ssml):
        try:
            fmt = audio.OutputFormat(self.output_format)
            fmt.riff = False  # a stream carries no header; the SDK writes its own
            pcm = await self.service.synthesize_pcm(ssml, fmt.rate)
        except (audio.AudioFormatError, synthesis.SynthesisError) as error:
            raise Refused(1007, str(error)) from None
        data = fmt.encode(pcm)
        stream_id = uuid.uuid4().hex
        await self.ws.send_str(text_message("turn.start", request_id, {"context": {"serviceTag": uuid.uuid4().hex}}))
        await self.ws.send_str(text_message("response", request_id, {
            "context": {"serviceTag": uuid.uuid4().hex}, "audio": {"type": "inline", "streamId": stream_id}}))
        frame = max(2, int(fmt.rate * AUDIO_FRAME_SECONDS) * (2 if fmt.encoding == "pcm" else 1))
        for pos in range(0, len(data), frame):
            await self.ws.send_bytes(audio_message(request_id, data[pos:pos + frame], stream_id))
        await self.ws.send_str(text_message("turn.end", request_id, {}))
