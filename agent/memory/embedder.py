"""How items of each modality enter the shared space.

Texts and images go through the embedding space's two towers. A recording enters one of two ways:
- ``audio="transcript"`` (default): Whisper transcribes it and the transcript is embedded on the text side, so
  "the voice memo about the meeting" finds a clip by what was said in it, and the words are kept and shown;
- ``audio="tower"``: the space's audio tower embeds the sound itself (``agent/space/audio_space.py``), with no
  transcript: no decoding (several times faster: docs/benchmarks.md, audio), and clips Whisper transcribes
  badly still get a place; but it knows only the kind of speech it was bound on (docs/alignment.md), so
  transcripts stay the default.
Images may also be read (OCR) so their text is kept and shown with them. A real photo, in Rosetta's own space
(whose image tower knows emoji scenes only), is placed by what the photo detector found in it: its caption ("a
photo of a dog and two people") is embedded on the text side, so "the photo with the dog" finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from agent.errors import MediaError, RosettaError
from agent.extras import installed
from agent.messages import AudioBlock
from agent.speech.transcriber import TranscribeOptions


@dataclass(frozen=True)
class EmbedderConfig:
    space: str = "rosetta"  # rosetta | a trained vision folder | hf:<CLIP/SigLIP> (agent.space.space.load_space)
    device: str = "cpu"
    ocr: bool = True  # read the text in images and keep it with them, where the ocr extra is installed
    # Place a picture by what Rosetta's eyes find in it (the photo detectors, or the scene reader for a drawing),
    # in Rosetta's own space; what that costs a picture: docs/vision.md. False: every image goes through the
    # image tower.
    photos: bool = True
    speech: TranscribeOptions = field(default_factory=TranscribeOptions)
    audio: str = "transcript"  # transcript | tower (see above)


AUDIO_MODES = ("transcript", "tower")


class MemoryEmbedder:
    """Loads the space on first use: opening a store to list or forget costs no model load."""

    def __init__(self, config: EmbedderConfig = EmbedderConfig(), space=None):
        if config.audio not in AUDIO_MODES:
            raise RosettaError(f"unknown audio mode {config.audio!r}; use one of {', '.join(AUDIO_MODES)}")
        self.config = config
        self._space = space

    @property
    def space(self):
        if self._space is None:
            from agent.space.space import load_space

            self._space = load_space(self.config.space, device=self.config.device)
        return self._space

    @property
    def by_sound(self) -> bool:
        return self.config.audio == "tower"

    @property
    def version(self) -> str:
        """The space's version, plus the audio tower's when recordings are embedded by sound: a store made one
        way is never searched the other way (vectors of a transcript and of a sound differ)."""
        if not self.by_sound:
            return self.space.version
        from agent.space.space import RosettaSpace, weights_fingerprint

        if not isinstance(self.space, RosettaSpace):
            raise RosettaError(f"the space {self.space.name} has no audio tower; store recordings by transcript "
                               "(--audio-by transcript) or use the rosetta space")
        return f"{self.space.version}:audio-tower:{weights_fingerprint(self.space.audio.head)}"

    @property
    def dim(self) -> int:
        return self.space.dim

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), np.float32)
        return self.space.embed_texts(texts).numpy().astype(np.float32)

    def embed_images(self, images: list[Image.Image]) -> np.ndarray:
        if not images:
            return np.empty((0, self.dim), np.float32)
        return self.space.embed_images(images).numpy().astype(np.float32)

    def embed_audio(self, clips: list[AudioBlock]) -> np.ndarray:
        if not clips:
            return np.empty((0, self.dim), np.float32)
        return self.space.embed_audio(clips).numpy().astype(np.float32)

    def transcribe(self, block: AudioBlock) -> str:
        """The words of a recording; a clip with no speech is refused (memory finds recordings by their words)."""
        from agent.speech.transcriber import transcribe_block

        text = transcribe_block(block, self.config.speech).strip()
        if not text:
            raise MediaError(
                f"no speech found in {block.source or 'the recording'}; memory finds recordings by their words, "
                "so a silent or music-only clip cannot be stored"
            )
        return text

    def picture_caption(self, image: Image.Image) -> tuple[str, str] | None:
        """(caption to embed, description to keep) for a picture in Rosetta's own space in which Rosetta's eyes
        found something: a real photo (the photo detectors) or a drawing (the scene reader). None for a picture of
        nothing they know (a caption of nothing would put them all in one place), in a space whose image tower
        sees pictures itself (hf:), or where the eyes' models cannot be had: the image tower places those."""
        if not self.config.photos or self.config.space.startswith("hf:"):
            return None
        from agent.vision.perception import perceive

        try:
            report = perceive(image)
        except RosettaError:  # no photo models (offline before setup): the image tower places it, as before
            return None
        if report is None or not report.found:
            return None
        return report.caption(), report.description()

    def read_text(self, image: Image.Image) -> str:
        # Reading is an addition to the image's vector, not a requirement: a core install stores images unread.
        if not self.config.ocr or not installed("rapidocr_onnxruntime"):
            return ""
        from agent.vision.ocr import join_lines, read_text

        return join_lines(read_text(image))
