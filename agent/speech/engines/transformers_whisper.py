"""transformers' Whisper (WhisperForConditionalGeneration): any hub checkpoint or converted folder."""

from __future__ import annotations

import numpy as np
import torch

from agent.errors import ModelLoadError
from agent.runtime.checkpoint import resolve_checkpoint
from agent.runtime.device import pick_dtype
from agent.speech.engines.base import WINDOW_SECONDS, DecodeOptions, SpeechEngine, segments_from_tokens
from agent.speech.model_source import WhisperSource, hf_folder
from agent.speech.transcript import Segment


class TransformersWhisperEngine(SpeechEngine):
    name = "transformers"

    def __init__(self, source: WhisperSource, device: torch.device, dtype: str = "auto", progress: bool = True):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        checkpoint = resolve_checkpoint(hf_folder(source, progress))
        self.dtype = pick_dtype(dtype, device)
        try:
            self.processor = WhisperProcessor.from_pretrained(checkpoint.location, local_files_only=checkpoint.local_files_only)
            self.model = WhisperForConditionalGeneration.from_pretrained(
                checkpoint.location, dtype=self.dtype, local_files_only=checkpoint.local_files_only
            ).to(device).eval()
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"transformers could not load Whisper {source.label!r}: {error}") from None
        generation = self.model.generation_config
        self.multilingual = bool(getattr(generation, "is_multilingual", False))
        self.timestamp_begin = generation.no_timestamps_token_id + 1
        self.end_of_text = generation.eos_token_id
        self.model_name = source.label
        self.device = str(device)

    def _features(self, audio: np.ndarray) -> torch.Tensor:
        features = self.processor.feature_extractor(audio, sampling_rate=16000, return_tensors="pt").input_features
        return features.to(self.model.device, self.dtype)

    @torch.inference_mode()
    def _detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language_ids = self.model.generation_config.lang_to_id  # {"<|en|>": 50259, ...}
        start = torch.tensor([[self.model.generation_config.decoder_start_token_id]], device=self.model.device)
        logits = self.model(self._features(audio), decoder_input_ids=start).logits[0, -1].float()
        tokens, ids = zip(*language_ids.items())
        probabilities = torch.softmax(logits[list(ids)], dim=-1)
        best = int(probabilities.argmax())
        return tokens[best].strip("<|>"), float(probabilities[best])

    @torch.inference_mode()
    def transcribe_window(self, audio: np.ndarray, language: str, options: DecodeOptions) -> list[Segment]:
        language_options = {"language": language, "task": options.task} if self.multilingual else {}
        output = self.model.generate(
            self._features(audio), return_timestamps=True, num_beams=options.beam_size, **language_options
        )
        tokens = output[0].tolist()
        decode = lambda ids: self.processor.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
        return segments_from_tokens(tokens, self.timestamp_begin, self.end_of_text, decode, min(WINDOW_SECONDS, len(audio) / 16000))
