"""The non-chat endpoints: speech to text (``/v1/audio/transcriptions``) and the shared image-text space
(``/v1/embeddings``). Both take what OpenAI's clients send; both refuse what could harm the server (model
names that are paths, unbounded batches) with a 400 that says what to send instead."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from agent.errors import RosettaError
from agent.media import (
    SPEECH_SAMPLE_RATE,
    AudioLimits,
    ImageLimits,
    ImageSource,
    load_audio,
    load_image,
)
from agent.server.errors import ApiError

# OpenAI's name, and the packaged Whisper models: a client cannot point the server at a file as a "model".
SPEECH_MODELS = {"whisper-1": "auto", "auto": "auto", "tiny.en": "tiny.en", "base": "base"}
TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
SPACE_MODEL = "rosetta-space"
MAX_EMBEDDING_INPUTS = 256
MAX_EMBEDDING_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: np.ndarray
    model: str
    language: str | None
    response_format: str


def parse_transcription_form(fields: dict[str, Any], audio_bytes: bytes, limits: AudioLimits) -> TranscriptionRequest:
    model = fields.get("model") or "whisper-1"
    if model not in SPEECH_MODELS:
        raise ApiError(400, f"speech model {model!r} is not served; use one of {', '.join(SPEECH_MODELS)}", "model", "invalid_value")
    response_format = fields.get("response_format") or "json"
    if response_format not in TRANSCRIPT_FORMATS:
        raise ApiError(400, f"response_format must be one of {', '.join(TRANSCRIPT_FORMATS)}", "response_format", "invalid_value")
    language = fields.get("language") or None
    if language is not None and not (language.isalpha() and 2 <= len(language) <= 3):
        raise ApiError(400, f"language must be a code such as en or fr, got {language!r}", "language", "invalid_value")
    try:
        samples = load_audio(audio_bytes, limits=limits)
    except RosettaError as error:
        raise ApiError(400, str(error), "file", "invalid_audio") from None
    return TranscriptionRequest(samples, SPEECH_MODELS[model], language, response_format)


def transcribe_request(request: TranscriptionRequest) -> tuple[str, str]:
    """(body, media type) in the requested format."""
    from agent.speech.transcriber import transcribe

    transcript = transcribe(request.audio, SPEECH_SAMPLE_RATE, model=request.model, language=request.language)
    if request.response_format == "text":
        return transcript.text + "\n", "text/plain"
    if request.response_format == "srt":
        return transcript.to_srt(), "text/plain"
    if request.response_format == "vtt":
        return transcript.to_vtt(), "text/vtt"
    if request.response_format == "verbose_json":
        segments = [{"id": i, "start": s.start, "end": s.end, "text": s.text} for i, s in enumerate(transcript.segments)]
        body = {"task": "transcribe", "language": transcript.language, "duration": transcript.duration,
                "text": transcript.text, "segments": segments}
        return json.dumps(body, ensure_ascii=False), "application/json"
    return json.dumps({"text": transcript.text}, ensure_ascii=False), "application/json"


@dataclass(frozen=True)
class EmbeddingInput:
    text: str | None = None
    image: Any = None  # a PIL image


def parse_embedding_inputs(body: Any, resolve_image_url: Callable[[str], ImageSource], image_limits: ImageLimits,
                           accepted_models: tuple[str, ...]) -> tuple[list[EmbeddingInput], str]:
    """Inputs (texts, and images as image_url parts or data: URLs) and the encoding format."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model", SPACE_MODEL)
    if model not in accepted_models:
        raise ApiError(404, f"embedding model {model!r} is not served here; use {SPACE_MODEL!r}", "model", "model_not_found")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise ApiError(400, "encoding_format must be float or base64", "encoding_format", "invalid_value")
    if body.get("dimensions") is not None:
        raise ApiError(400, "'dimensions' is not supported: the space has a fixed size", "dimensions", "invalid_value")
    raw = body.get("input")
    items = [raw] if isinstance(raw, (str, dict)) else raw
    if not isinstance(items, list) or not items:
        raise ApiError(400, "'input' must be a string, an image part, or a non-empty list of them", "input", "invalid_value")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise ApiError(400, f"{len(items)} inputs is over the limit of {MAX_EMBEDDING_INPUTS} per request", "input", "invalid_value")
    inputs = []
    for index, item in enumerate(items):
        inputs.append(_embedding_input(item, index, resolve_image_url, image_limits))
    return inputs, encoding


def _embedding_input(item: Any, index: int, resolve: Callable[[str], ImageSource], limits: ImageLimits) -> EmbeddingInput:
    where = f"input {index}"
    url = None
    if isinstance(item, str) and item.startswith("data:image/"):
        url = item
    elif isinstance(item, str):
        if not item.strip():
            raise ApiError(400, f"{where} is empty text", "input", "invalid_value")
        if len(item) > MAX_EMBEDDING_TEXT_CHARS:
            raise ApiError(400, f"{where} is over {MAX_EMBEDDING_TEXT_CHARS} characters; split it", "input", "invalid_value")
        return EmbeddingInput(text=item)
    elif isinstance(item, dict) and item.get("type") == "text" and isinstance(item.get("text"), str):
        return _embedding_input(item["text"], index, resolve, limits)
    elif isinstance(item, dict) and item.get("type") == "image_url":
        image_url = item.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise ApiError(400, f"{where}: send text, a data:image URL, or {{'type': 'image_url', 'image_url': {{'url': ...}}}} "
                       "(token arrays are not accepted)", "input", "invalid_value")
    try:
        return EmbeddingInput(image=load_image(resolve(url), limits))
    except RosettaError as error:
        raise ApiError(400, f"{where}: {error}", "input", "invalid_image") from None


def embed(space: Any, inputs: list[EmbeddingInput], encoding: str, model: str) -> dict[str, Any]:
    texts = [(i, item.text) for i, item in enumerate(inputs) if item.text is not None]
    images = [(i, item.image) for i, item in enumerate(inputs) if item.image is not None]
    vectors: dict[int, np.ndarray] = {}
    if texts:
        for (i, _), vector in zip(texts, space.embed_texts([text for _, text in texts]).numpy()):
            vectors[i] = vector
    if images:
        for (i, _), vector in zip(images, space.embed_images([image for _, image in images]).numpy()):
            vectors[i] = vector
    data = []
    for i in range(len(inputs)):
        vector = vectors[i].astype(np.float32)
        value: Any = base64.b64encode(vector.tobytes()).decode() if encoding == "base64" else vector.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    # Counted as OpenAI does for text (tokens are words here: the space's tokenizer is not the client's concern).
    tokens = sum(len(text.split()) for _, text in texts) + 16 * len(images)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
