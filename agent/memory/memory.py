"""``Memory``: what the agent was shown and told, kept across turns and restarts, found again from any modality.

    memory = Memory.open()                                   # ~/.cache/rosetta/memory, the shipped space
    memory.add_image("dog.jpg", tags=["pets"])               # a copy is kept; its text is read (OCR)
    memory.add_audio("memo.wav")                             # transcribed; found by its words (or by sound:
                                                             # EmbedderConfig(audio="tower"), no transcript)
    memory.add_text("The meeting moved to Friday.")
    memory.search("a photo of a dog", where=Filter(modalities=("image",)))
    memory.search(Image.open("cat.png"))                     # images like this one (and texts about it)

The same class runs on the embedded folder store or on Milvus (``Memory.open_milvus``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
from PIL import Image

from agent.errors import MediaError, RosettaError
from agent.media import (
    AudioSource,
    ImageSource,
    audio_to_wav_bytes,
    image_to_bytes,
    load_image,
)
from agent.memory.backend import MemoryBackend
from agent.memory.content import ContentStore
from agent.memory.embedder import EmbedderConfig, MemoryEmbedder
from agent.memory.records import (
    MAX_TEXT_CHARS,
    Filter,
    Hit,
    MemoryItem,
    MemoryStoreError,
)
from agent.messages import AudioBlock, ImageBlock, Message
from agent.paths import rosetta_home

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a"}
TEXT_SUFFIXES = {".txt", ".md"}
MAX_RESULTS = 1000
Query = Union[str, Image.Image, ImageBlock, AudioBlock]


def default_folder() -> Path:
    """$ROSETTA_MEMORY, else memory/ in Rosetta's home folder."""
    if os.environ.get("ROSETTA_MEMORY"):
        return Path(os.environ["ROSETTA_MEMORY"]).expanduser()
    return rosetta_home() / "memory"


@dataclass
class NewItem:
    """An item on its way in: its record, what gets embedded, and the file the store will keep."""

    item: MemoryItem
    text: str | None = None  # embedded on the text side
    image: Image.Image | None = None  # embedded on the image side
    audio: AudioBlock | None = None  # embedded by the audio tower
    content: bytes | None = None
    suffix: str = ""
    vector: np.ndarray | None = None  # already embedded in this memory's space (a batch job's output, say)


@dataclass(frozen=True)
class MemoryConfig:
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    batch_size: int = 64  # items embedded and committed together by add_many


def _metadata(item_kwargs: dict) -> dict:
    allowed = {"source", "conversation", "tags", "created_at", "extra"}
    unknown = set(item_kwargs) - allowed
    if unknown:
        raise TypeError(f"unknown item field(s): {', '.join(sorted(unknown))}")
    return {key: value for key, value in item_kwargs.items() if value is not None}


class Memory:
    def __init__(self, backend: MemoryBackend, content: ContentStore, embedder: MemoryEmbedder, config: MemoryConfig = MemoryConfig()):
        self.backend = backend
        self.content = content
        self.embedder = embedder
        self.config = config
        if backend.writable:
            self.content.recover(lambda ids: {item.id: item.content_file for item in backend.get(ids) if item.content_file})

    # Opening -----------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        folder: str | Path | None = None,
        *,
        space: str = "rosetta",
        writable: bool = True,
        config: MemoryConfig | None = None,
        store_config=None,
        embedder: MemoryEmbedder | None = None,
    ) -> "Memory":
        """The embedded store in ``folder`` (default: the cache's memory/); made on first write."""
        from agent.memory.local_store import LocalStore, LocalStoreConfig

        config = config or MemoryConfig(embedder=EmbedderConfig(space=space))
        embedder = embedder or MemoryEmbedder(config.embedder)
        folder = Path(folder).expanduser() if folder else default_folder()
        create = writable and not (folder / "memory.sqlite").is_file()
        # A new store needs the space's dim and version now; an existing one only when it will be searched or
        # written, so listing and forgetting never load a model. The version is checked on first embedding.
        backend = LocalStore(
            folder,
            dim=embedder.dim if create else None,
            version=embedder.version if create else None,
            writable=writable,
            config=store_config or LocalStoreConfig(),
        )
        return cls(backend, ContentStore(folder / "content"), embedder, config)

    @classmethod
    def open_milvus(
        cls,
        uri: str,
        content_folder: str | Path,
        *,
        collection: str = "rosetta_memory",
        space: str = "rosetta",
        token: str | None = None,
        config: MemoryConfig | None = None,
        embedder: MemoryEmbedder | None = None,
        any_version: bool = False,
    ) -> "Memory":
        """The same memory on Milvus: a Milvus Lite file (``./memory.db``) or a server/cluster URI (``http://...``)."""
        from agent.memory.milvus_store import MilvusStore

        config = config or MemoryConfig(embedder=EmbedderConfig(space=space))
        embedder = embedder or MemoryEmbedder(config.embedder)
        backend = MilvusStore(
            uri, collection=collection, dim=embedder.dim, version=embedder.version, token=token, any_version=any_version
        )
        return cls(backend, ContentStore(content_folder), embedder, config)

    _version_checked = False  # set once the embedder's version matched the store's (re-embedding makes it match)

    def _check_version(self) -> None:
        """Vectors from two spaces never meet: refuse to embed into a store made with another one."""
        if self._version_checked:
            return
        from agent.memory.records import EmbeddingVersionError

        if self.embedder.version != self.backend.version:
            raise EmbeddingVersionError(
                f"this memory was embedded with {self.backend.version!r}, not {self.embedder.version!r}; "
                "use that embedding space, or re-embed the memory with this one (rosetta memory reembed)"
            )
        self._version_checked = True

    # Adding ------------------------------------------------------------------------------------------

    def prepare_text(self, text: str, modality: str = "text", **metadata) -> NewItem:
        if not isinstance(text, str) or not text.strip():
            raise MemoryStoreError("cannot remember empty text; give some words")
        return NewItem(MemoryItem(modality, text=text.strip(), **_metadata(metadata)), text=text.strip())

    def prepare_image(self, image: ImageSource | ImageBlock, caption: str | None = None, **metadata) -> NewItem:
        """An image (path, bytes, data: URL, PIL or ImageBlock), validated now; a copy will be kept."""
        metadata = _metadata(metadata)
        original = image.source if isinstance(image, ImageBlock) else image
        picture = image.image if isinstance(image, ImageBlock) else load_image(image)  # one-line refusals of bad input
        is_file = isinstance(original, (str, Path)) and not str(original).startswith("data:")
        suffix = Path(original).suffix.lower() if is_file else ""
        if suffix in IMAGE_SUFFIXES and Path(original).expanduser().is_file():
            content = Path(original).expanduser().read_bytes()  # the original file, as the user gave it
            metadata["source"] = Path(original).name  # the file name says more than where it passed through
        else:
            content, suffix = image_to_bytes(picture), ".png"
        extra = {"width": picture.width, "height": picture.height, **metadata.pop("extra", {})}
        if caption:
            extra["caption"] = caption
        text = self.embedder.read_text(picture)
        photo = self.embedder.picture_caption(picture)
        if photo is not None:  # a photo or a drawing: found by what is in it (embedder.py)
            extra["photo_caption"] = photo[0]  # named when stores held photos only; drawings use it too
            item = MemoryItem("image", text="\n".join(part for part in (photo[1], text) if part), extra=extra, **metadata)
            return NewItem(item, text=photo[0], content=content, suffix=suffix)
        item = MemoryItem("image", text=text, extra=extra, **metadata)
        return NewItem(item, image=picture, content=content, suffix=suffix)

    def prepare_audio(self, audio: AudioSource | AudioBlock, **metadata) -> NewItem:
        """A recording, transcribed now (refused when it holds no speech) or, by sound, not; a copy will be kept."""
        metadata = _metadata(metadata)
        block = audio if isinstance(audio, AudioBlock) else AudioBlock.load(audio)
        transcript = "" if self.embedder.by_sound else self.embedder.transcribe(block)
        source_path = Path(block.source).expanduser() if block.source else None
        if source_path is not None and source_path.suffix.lower() in AUDIO_SUFFIXES and source_path.is_file():
            content, suffix = source_path.read_bytes(), source_path.suffix.lower()
            metadata["source"] = source_path.name
        else:
            content, suffix = audio_to_wav_bytes(block.samples, block.sample_rate), ".wav"
        extra = {"duration": round(block.duration, 2), **metadata.pop("extra", {})}
        item = MemoryItem("audio", text=transcript, extra=extra, **metadata)
        if self.embedder.by_sound:
            return NewItem(item, audio=block, content=content, suffix=suffix)
        return NewItem(item, text=transcript, content=content, suffix=suffix)

    def prepare_file(self, path: str | Path, **metadata) -> NewItem:
        """Any file a user hands over, by kind: image, recording, or text (.txt/.md)."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise MediaError(f"no file {str(path)!r}; check the path")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return self.prepare_image(path, **metadata)
        if suffix in AUDIO_SUFFIXES:
            return self.prepare_audio(path, **metadata)
        if suffix in TEXT_SUFFIXES:
            if path.stat().st_size > 4 * MAX_TEXT_CHARS:  # 4 bytes per character at most in UTF-8
                raise MediaError(f"{path.name} is over the {MAX_TEXT_CHARS} characters an item holds; split it into several files")
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError) as error:
                raise MediaError(f"cannot read {path.name} as UTF-8 text ({error}); save it as UTF-8") from None
            metadata.setdefault("source", path.name)
            return self.prepare_text(text, **metadata)
        raise MediaError(
            f"{path.name}: unknown kind of file; memory takes images ({', '.join(sorted(IMAGE_SUFFIXES))}), "
            f"audio ({', '.join(sorted(AUDIO_SUFFIXES))}) and text (.txt, .md)"
        )

    def add_many(self, entries: Sequence[NewItem], progress: Callable[[int], None] | None = None) -> list[MemoryItem]:
        """Store prepared items in batches; each batch is all-or-nothing and durable once this moves past it."""
        self._check_version()
        stored: list[MemoryItem] = []
        for start in range(0, len(entries), self.config.batch_size):
            batch = list(entries[start : start + self.config.batch_size])
            vectors = self._embed(batch)
            names: list[str] = []
            for entry in batch:
                if entry.content is not None:
                    entry.item.content_file = self.content.name_for(entry.item.id, entry.suffix)
                    self.content.stage(entry.item.content_file, entry.content)
                    names.append(entry.item.content_file)
            try:
                self.backend.add([entry.item for entry in batch], vectors)
            except BaseException:
                self.content.discard_staged(names)
                raise
            self.content.commit(names)
            stored += [entry.item for entry in batch]
            if progress is not None:
                progress(len(batch))
        return stored

    def add_text(self, text: str, **metadata) -> MemoryItem:
        return self.add_many([self.prepare_text(text, **metadata)])[0]

    def add_image(self, image: ImageSource | ImageBlock, caption: str | None = None, **metadata) -> MemoryItem:
        return self.add_many([self.prepare_image(image, caption=caption, **metadata)])[0]

    def add_audio(self, audio: AudioSource | AudioBlock, **metadata) -> MemoryItem:
        return self.add_many([self.prepare_audio(audio, **metadata)])[0]

    def add_file(self, path: str | Path, **metadata) -> MemoryItem:
        return self.add_many([self.prepare_file(path, **metadata)])[0]

    def add_turn(
        self, message: Message, conversation: str | None = None, on_skip: Callable[[str], None] | None = None, **metadata
    ) -> list[MemoryItem]:
        """A conversation turn: its text as a 'turn' item, each image and recording in it as its own item.

        An attachment that cannot be stored (a recording without speech, say) raises, or with ``on_skip`` is
        reported there while the rest of the turn is still stored.
        """
        entries: list[NewItem] = []
        for block in [*message.images, *message.audio]:
            prepare = self.prepare_image if isinstance(block, ImageBlock) else self.prepare_audio
            try:
                entries.append(prepare(block, conversation=conversation, **metadata))
            except RosettaError as error:
                if on_skip is None:
                    raise
                on_skip(str(error))
        if message.text.strip():
            extra = {"role": message.role, **metadata.pop("extra", {})}
            entries.append(self.prepare_text(message.text, modality="turn", conversation=conversation, extra=extra, **metadata))
        return self.add_many(entries)

    # Finding -----------------------------------------------------------------------------------------

    def query_vector(self, query: Query) -> np.ndarray:
        """A text, an image or a recording (by its words) as a vector in the store's space."""
        self._check_version()
        if isinstance(query, str):
            if not query.strip():
                raise MemoryStoreError("the search text is empty; say what to look for")
            return self.embedder.embed_texts([query.strip()])[0]
        if isinstance(query, ImageBlock):
            query = query.image
        if isinstance(query, Image.Image):
            photo = self.embedder.picture_caption(query)  # a picture looks for what is in it, as pictures are stored
            return self.embedder.embed_texts([photo[0]])[0] if photo else self.embedder.embed_images([query])[0]
        if isinstance(query, AudioBlock):
            if self.embedder.by_sound:
                return self.embedder.embed_audio([query])[0]
            return self.embedder.embed_texts([self.embedder.transcribe(query)])[0]
        raise MemoryStoreError(f"cannot search by a {type(query).__name__}; use text, an image or a recording")

    def search(self, query: Query, k: int = 5, where: Filter = Filter()) -> list[Hit]:
        if not 1 <= k <= MAX_RESULTS:
            raise MemoryStoreError(f"asked for {k} results; ask for 1 to {MAX_RESULTS}")
        return self.backend.search(self.query_vector(query), k, where, version=self.embedder.version)

    def similar(self, item_id: str, k: int = 5, where: Filter = Filter()) -> list[Hit]:
        """Items near a stored one (itself excluded): "find images like this one"."""
        vectors = self.backend.vectors([item_id])
        if not len(vectors):
            raise MemoryStoreError(f"no item {item_id!r} in memory; `rosetta memory list` shows the ids")
        return [hit for hit in self.backend.search(vectors[0], k + 1, where) if hit.item.id != item_id][:k]

    def get(self, item_id: str) -> MemoryItem:
        found = self.backend.get([item_id])
        if not found:
            raise MemoryStoreError(f"no item {item_id!r} in memory; `rosetta memory list` shows the ids")
        return found[0]

    def content_path(self, item: MemoryItem) -> Path | None:
        return self.content.path(item.content_file) if item.content_file else None

    def load_image(self, item: MemoryItem) -> ImageBlock:
        """A stored image as the model core takes it."""
        if item.modality != "image" or not item.content_file:
            raise MemoryStoreError(f"item {item.id} is a {item.modality}, not an image")
        return ImageBlock(image=load_image(self.content.path(item.content_file)), source=item.source)

    def list(self, where: Filter = Filter(), limit: int = 50, offset: int = 0) -> list[MemoryItem]:
        return self.backend.list(where, limit, offset)

    def count(self, where: Filter = Filter()) -> int:
        return self.backend.count(where)

    # Forgetting and upkeep ---------------------------------------------------------------------------

    def delete(self, ids: Sequence[str]) -> list[MemoryItem]:
        """Forget items: their vectors, records and stored files."""
        items = self.backend.get(ids)
        names = [item.content_file for item in items if item.content_file]
        self.content.move_to_trash(names)
        try:
            deleted = self.backend.delete([item.id for item in items])
        except BaseException:
            self.content.restore(names)
            raise
        self.content.empty_trash(names)
        return deleted

    def forget_conversation(self, conversation: str) -> int:
        where = Filter(conversation=conversation)
        forgotten = 0
        while batch := self.backend.list(where, limit=500):
            forgotten += len(self.delete([item.id for item in batch]))
        return forgotten

    def reembed(self, progress: Callable[[int], None] | None = None) -> int:
        """Move every item into this memory's embedding space (after the model changed); one switch-over."""

        def embed(items: list[MemoryItem]) -> np.ndarray:
            entries = []
            for item in items:
                if item.modality == "image" and item.extra.get("photo_caption"):
                    entries.append(NewItem(item, text=item.extra["photo_caption"]))
                elif item.modality == "image":
                    picture = load_image(self.content.path(item.content_file))
                    entries.append(NewItem(item, image=picture))
                elif item.modality == "audio" and self.embedder.by_sound:
                    entries.append(NewItem(item, audio=AudioBlock.load(self.content.path(item.content_file))))
                elif item.modality == "audio" and not item.text:  # stored by sound, now found by its words
                    block = AudioBlock.load(self.content.path(item.content_file))
                    entries.append(NewItem(item, text=self.embedder.transcribe(block)))
                else:
                    entries.append(NewItem(item, text=item.text))
            return self._embed(entries)

        count = self.backend.reembed(self.embedder.version, self.embedder.dim, embed, progress=progress)
        self._version_checked = True
        return count

    def _embed(self, entries: list[NewItem]) -> np.ndarray:
        vectors = np.zeros((len(entries), self.embedder.dim), np.float32)
        for i, entry in enumerate(entries):
            if entry.vector is not None:
                vectors[i] = entry.vector
        pending = [(i, e) for i, e in enumerate(entries) if e.vector is None]
        texts = [(i, e.text) for i, e in pending if e.image is None and e.audio is None]
        images = [(i, e.image) for i, e in pending if e.image is not None]
        clips = [(i, e.audio) for i, e in pending if e.audio is not None]
        if texts:
            vectors[[i for i, _ in texts]] = self.embedder.embed_texts([t for _, t in texts])
        if images:
            vectors[[i for i, _ in images]] = self.embedder.embed_images([p for _, p in images])
        if clips:
            vectors[[i for i, _ in clips]] = self.embedder.embed_audio([c for _, c in clips])
        return vectors

    def stats(self) -> dict:
        return {**self.backend.stats(), "content_bytes": self.content.size()}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
