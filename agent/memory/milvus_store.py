"""The memory on Milvus: Milvus Lite in-process (a ``.db`` path) or a Milvus server or cluster by URI.

Two collections per memory: ``NAME__meta`` holds the embedding version, the dimension and which data
collection is live; ``NAME__gN`` holds the items with their vectors. Re-embedding fills a new data collection and
then switches ``active`` in one upsert, so a search never meets two spaces. Milvus deletes are logical until a
compaction, which ``delete`` asks for at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.memory.backend import (
    EmbedBatch,
    MemoryBackend,
    checked_query,
    checked_vectors,
)
from agent.memory.records import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    EmbeddingVersionError,
    Filter,
    Hit,
    MemoryItem,
    MemoryStoreError,
)

FIELDS = ["id", "modality", "text", "source", "conversation", "tags", "created_at", "content_file", "extra"]
PAGE = 16_384  # Milvus's largest query window


def filter_expression(where: Filter) -> str:
    """Milvus boolean expression; values are safe to quote (tags and conversation ids are validated plain words)."""
    parts: list[str] = []
    if where.modalities:
        parts.append(f"modality in {json.dumps(list(where.modalities))}")
    if where.since is not None:
        parts.append(f"created_at >= {float(where.since)!r}")
    if where.until is not None:
        parts.append(f"created_at < {float(where.until)!r}")
    if where.conversation is not None:
        parts.append(f"conversation == {json.dumps(where.conversation)}")
    parts += [f"array_contains(tags, {json.dumps(tag)})" for tag in where.tags]
    return " and ".join(parts)


def _to_entity(item: MemoryItem, vector: np.ndarray) -> dict[str, Any]:
    return {
        "id": item.id, "vector": vector.tolist(), "modality": item.modality, "text": item.text,
        "source": item.source or "", "conversation": item.conversation or "", "tags": list(item.tags),
        "created_at": float(item.created_at), "content_file": item.content_file or "", "extra": dict(item.extra),
    }


def _to_item(entity: dict[str, Any]) -> MemoryItem:
    return MemoryItem.trusted(
        modality=entity["modality"], text=entity["text"], source=entity["source"] or None,
        conversation=entity["conversation"] or None, tags=list(entity["tags"] or []), created_at=entity["created_at"],
        content_file=entity["content_file"] or None, extra=dict(entity["extra"] or {}), id=entity["id"],
    )


class MilvusStore(MemoryBackend):
    writable = True

    def __init__(
        self, uri: str, *, collection: str = "rosetta_memory", dim: int | None = None, version: str | None = None,
        token: str | None = None, index_type: str = "AUTOINDEX", any_version: bool = False,
    ):
        try:
            from pymilvus import MilvusClient
            from pymilvus.exceptions import MilvusException
        except ImportError:
            raise MemoryStoreError("pymilvus is not installed; `pip install pymilvus milvus-lite`") from None
        self._errors = (MilvusException,)
        if "://" not in uri:
            Path(uri).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            uri = str(Path(uri).expanduser().resolve())
        try:
            self.client = MilvusClient(uri=uri, token=token or "")
        except MilvusException as error:
            raise MemoryStoreError(f"cannot reach Milvus at {uri}: {error.message}; check the URI and that it runs") from None
        self.uri, self.name, self.index_type = uri, collection, index_type
        self.meta = f"{collection}__meta"
        if not self.client.has_collection(self.meta):
            if dim is None or version is None:
                raise MemoryStoreError(f"no memory {collection!r} at {uri}, and no embedding space was given to make one")
            self._create_meta()
            data = self._create_data(1, dim)
            self._set_meta({"version": version, "dim": str(dim), "active": data})
        state = self._get_meta()
        self.version, self.dim, self.active = state["version"], int(state["dim"]), state["active"]
        if version is not None and version != self.version and not any_version:
            raise EmbeddingVersionError(
                f"Milvus memory {collection!r} was embedded with {self.version!r}, not {version!r}; "
                "use that embedding space, or re-embed it (rosetta memory reembed)"
            )

    # Collections -------------------------------------------------------------------------------------

    def _create_meta(self) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=4096)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants one vector field per collection
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta, schema=schema, index_params=index, consistency_level="Strong")

    def _create_data(self, generation: int, dim: int) -> str:
        from pymilvus import DataType

        name = f"{self.name}__g{generation}"
        if self.client.has_collection(name):
            self.client.drop_collection(name)  # left by a re-embedding that never switched over
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("modality", DataType.VARCHAR, max_length=16)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field("source", DataType.VARCHAR, max_length=4096)
        schema.add_field("conversation", DataType.VARCHAR, max_length=128)
        schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_TAGS, max_length=MAX_TAG_CHARS)
        schema.add_field("created_at", DataType.DOUBLE)
        schema.add_field("content_file", DataType.VARCHAR, max_length=256)
        schema.add_field("extra", DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type=self.index_type, metric_type="IP")
        self.client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        return name

    def _set_meta(self, values: dict[str, str]) -> None:
        self.client.upsert(self.meta, [{"key": k, "value": v, "vector": [0.0, 0.0]} for k, v in values.items()])

    def _get_meta(self) -> dict[str, str]:
        rows = self.client.query(self.meta, filter='key != ""', output_fields=["key", "value"])
        return {row["key"]: row["value"] for row in rows}

    # Interface ---------------------------------------------------------------------------------------

    def add(self, items: Sequence[MemoryItem], vectors: np.ndarray) -> None:
        vectors = checked_vectors(items, vectors, self.dim)
        if not items:
            return
        if self.get([item.id for item in items]):
            raise MemoryStoreError("an item with one of these ids is already stored; ids must be new")
        try:
            self.client.insert(self.active, [_to_entity(item, vector) for item, vector in zip(items, vectors)])
        except self._errors as error:
            raise MemoryStoreError(f"Milvus refused the batch: {error.message}") from None

    def search(self, vector: np.ndarray, k: int, where: Filter = Filter(), version: str | None = None) -> list[Hit]:
        if version is not None and version != self.version:
            raise EmbeddingVersionError(f"Milvus memory {self.name!r} holds {self.version!r} vectors, not {version!r}")
        query = checked_query(vector, self.dim)
        if k <= 0:
            return []
        found = self.client.search(
            self.active, data=[query.tolist()], limit=k, filter=filter_expression(where), output_fields=FIELDS,
            search_params={"metric_type": "IP"},
        )
        return [Hit(_to_item(hit["entity"] | {"id": hit["id"]}), float(hit["distance"])) for hit in found[0]]

    def get(self, ids: Sequence[str]) -> list[MemoryItem]:
        if not ids:
            return []
        found = {row["id"]: _to_item(row) for row in self.client.get(self.active, ids=list(ids), output_fields=FIELDS)}
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        rows = {row["id"]: row["vector"] for row in self.client.get(self.active, ids=list(ids), output_fields=["vector"])} if ids else {}
        ordered = [rows[i] for i in dict.fromkeys(ids) if i in rows]
        return np.array(ordered, dtype=np.float32).reshape(len(ordered), self.dim)

    def _matching(self, where: Filter, fields: list[str]) -> list[dict]:
        expression = filter_expression(where) or 'id != ""'
        rows, offset = [], 0
        while True:
            page = self.client.query(self.active, filter=expression, output_fields=fields, limit=PAGE, offset=offset)
            rows += page
            if len(page) < PAGE:
                return rows
            offset += PAGE

    def list(self, where: Filter = Filter(), limit: int = 50, offset: int = 0) -> list[MemoryItem]:
        # Milvus has no ORDER BY: order the (id, time) pairs here, then fetch the page asked for.
        keys = sorted(self._matching(where, ["id", "created_at"]), key=lambda row: (-row["created_at"], row["id"]))
        return self.get([row["id"] for row in keys[offset : offset + limit]])

    def count(self, where: Filter = Filter()) -> int:
        expression = filter_expression(where) or 'id != ""'
        return int(self.client.query(self.active, filter=expression, output_fields=["count(*)"])[0]["count(*)"])

    def delete(self, ids: Sequence[str]) -> list[MemoryItem]:
        found = self.get(ids)
        if found:
            self.client.delete(self.active, ids=[item.id for item in found])
            try:
                self.client.compact(self.active)  # deleted vectors leave the segments, not only the results
            except (self._errors + (NotImplementedError, AttributeError)):
                pass
        return found

    def reembed(self, version: str, dim: int, embed: EmbedBatch, batch_size: int = 256, progress=None) -> int:
        generation = int(self.active.rsplit("__g", 1)[1]) + 1
        target = self._create_data(generation, dim)
        moved = 0
        for start in range(0, 1 << 62, PAGE):
            page = self.client.query(self.active, filter='id != ""', output_fields=FIELDS, limit=PAGE, offset=start)
            items = [_to_item(row) for row in page]
            for first in range(0, len(items), batch_size):
                batch = items[first : first + batch_size]
                vectors = np.asarray(embed(batch), dtype=np.float32)
                self.client.insert(target, [_to_entity(item, vector) for item, vector in zip(batch, vectors)])
                moved += len(batch)
                if progress is not None:
                    progress(len(batch))
            if len(page) < PAGE:
                break
        old = self.active
        self._set_meta({"version": version, "dim": str(dim), "active": target})  # the switch-over
        self.version, self.dim, self.active = version, dim, target
        self.client.drop_collection(old)
        return moved

    def stats(self) -> dict:
        return {"items": self.count(), "version": self.version, "dim": self.dim, "collection": self.active, "uri": self.uri}

    def close(self) -> None:
        self.client.close()
