"""The embedded memory store: one folder holding SQLite (items, metadata), a vector file and a FAISS snapshot.

    memory.sqlite      items + tags + state (embedding version, dim, row count, generation), WAL mode
    vectors-G.f32      float32 rows, row i = the item whose ``row`` is i; deleted rows are zeroed
    index-G-....faiss  the latest IVF snapshot (only past IndexConfig.exact_below rows)
    writer.lock        held (flock) by the one process that may write; readers never take it

Durability: a batch is acknowledged when its SQLite transaction commits. Its vectors are written (and fsynced)
before that commit, so a committed row always has its vector; a killed writer leaves at most a tail of
vectors past the committed row count, which the next writer truncates. Deletes commit first, then zero the
vectors; rows waiting to be zeroed are listed in the same transaction, so a kill in between is finished on
the next open. The index is derived data: it is rebuilt or extended from the vector file, never trusted over it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.memory.ann import IndexConfig, IVFIndex, exact_search, merge_results
from agent.memory.backend import (
    EmbedBatch,
    MemoryBackend,
    checked_query,
    checked_vectors,
)
from agent.memory.records import (
    MODALITIES,
    EmbeddingVersionError,
    Filter,
    Hit,
    MemoryItem,
    MemoryStoreError,
)

FORMAT = 1
DB_NAME = "memory.sqlite"
SQL_CHUNK = 500  # ids per IN (...) clause, well under SQLite's variable limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    modality TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT,
    conversation TEXT,
    tags TEXT NOT NULL,
    created_at REAL NOT NULL,
    content_file TEXT,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_time ON items (created_at);
CREATE INDEX IF NOT EXISTS items_by_conversation ON items (conversation) WHERE conversation IS NOT NULL;
CREATE TABLE IF NOT EXISTS tags (item_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, item_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_item ON tags (item_id);
CREATE TABLE IF NOT EXISTS wipe (row INTEGER PRIMARY KEY);
"""
COLUMNS = "row, id, modality, text, source, conversation, tags, created_at, content_file, extra"
SNAPSHOT = re.compile(r"index-g(\d+)-r(\d+)-d(\d+)-t(\d+)-p(\d+)\.faiss$")
MODALITY_CODES = {modality: code for code, modality in enumerate(MODALITIES)}
GONE = 255  # the modality code of a deleted row


@dataclass(frozen=True)
class LocalStoreConfig:
    index: IndexConfig = field(default_factory=IndexConfig)
    # fsync the vector file and commit with synchronous=FULL: survives power loss, not only a killed process.
    sync: bool = True
    index_batch: int = 20_000  # the writer folds new rows into the IVF once this many are waiting
    # Index upkeep (training, folding in new rows, snapshots) in a writer thread: an add returns once durable, and
    # rows not yet indexed are scanned exactly meanwhile. False: the add that crosses a threshold does the work.
    background_index: bool = True
    snapshot_growth: float = 0.25  # and saves the index again once this fraction of it is new since the last save


def _row_to_item(row: sqlite3.Row | tuple) -> tuple[int, MemoryItem]:
    position, item_id, modality, text, source, conversation, tags, created_at, content_file, extra = row
    item = MemoryItem.trusted(
        modality=modality, text=text, source=source, conversation=conversation,
        tags=json.loads(tags) if tags != "[]" else [], created_at=created_at, content_file=content_file,
        extra=json.loads(extra) if extra != "{}" else {}, id=item_id,
    )
    return position, item


def filter_sql(where: Filter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    if where.modalities:
        clauses.append(f"modality IN ({','.join('?' * len(where.modalities))})")
        values += list(where.modalities)
    if where.since is not None:
        clauses.append("created_at >= ?")
        values.append(where.since)
    if where.until is not None:
        clauses.append("created_at < ?")
        values.append(where.until)
    if where.conversation is not None:
        clauses.append("conversation = ?")
        values.append(where.conversation)
    for tag in where.tags:
        clauses.append("id IN (SELECT item_id FROM tags WHERE tag = ?)")
        values.append(tag)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


class LocalStore(MemoryBackend):
    def __init__(
        self,
        folder: str | Path,
        *,
        dim: int | None = None,
        version: str | None = None,
        writable: bool = True,
        config: LocalStoreConfig = LocalStoreConfig(),
        any_version: bool = False,
    ):
        """Open (or, writable with dim and version, create) a store. ``version`` must match unless ``any_version``."""
        self.folder = Path(folder).expanduser()
        self.config = config
        self.writable = writable
        self._lock = threading.RLock()
        self._lock_file = None
        self._vector_fd: int | None = None
        self._matrix: np.ndarray | None = None
        self._matrix_rows = -1
        self.ivf: IVFIndex | None = None
        # Per-row modality code and time, loaded on the first filtered search: most filters become numpy masks.
        self._attributes: tuple[np.ndarray, np.ndarray] | None = None
        self._index_deletes = 0  # the deletes counter the loaded index reflects
        self._index_lock = threading.RLock()  # FAISS indexes must not be searched while rows are added to them
        self._builder: threading.Thread | None = None
        self._builder_error: str | None = None
        self._saved_covered = 0
        if writable:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._take_writer_lock()
        elif not (self.folder / DB_NAME).is_file():
            raise MemoryStoreError(f"no memory store in {self.folder}; add something first (rosetta memory add FILE)")
        try:
            self.db = sqlite3.connect(str(self.folder / DB_NAME), timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise MemoryStoreError(f"cannot open {self.folder / DB_NAME}: {error}; is it a Rosetta memory folder?") from None
        try:
            if writable:
                self._create_or_check(dim, version)
            else:
                self.db.execute("PRAGMA query_only = 1")
            self._state = self._read_state()
        except sqlite3.DatabaseError as error:
            self.close()
            raise MemoryStoreError(f"{self.folder / DB_NAME} is not a readable memory store ({error})") from None
        except MemoryStoreError:
            self.close()  # release the writer lock on the way out
            raise
        self.dim = int(self._state["dim"])
        self.version = self._state["version"]
        if version is not None and version != self.version and not any_version:
            self.close()
            raise EmbeddingVersionError(
                f"{self.folder} was embedded with {self.version!r}, not {version!r}; "
                "open it with that embedding space, or re-embed it (rosetta memory reembed)"
            )
        if writable:
            self._recover()
        self._load_index()

    # Opening -----------------------------------------------------------------------------------------

    def _take_writer_lock(self) -> None:
        self._lock_file = open(self.folder / "writer.lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            self._lock_file = None
            raise MemoryStoreError(
                f"{self.folder} is open for writing by {holder}; close it there, or open this one read-only"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"pid {os.getpid()}")
        self._lock_file.flush()

    def _create_or_check(self, dim: int | None, version: str | None) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {'FULL' if self.config.sync else 'NORMAL'}")
        self.db.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed: deleted text does not linger
        self.db.execute("PRAGMA cache_size = -65536")  # 64 MB of pages: the id index stays in memory for big stores
        self.db.executescript(SCHEMA)
        exists = self.db.execute("SELECT value FROM state WHERE key = 'format'").fetchone()
        if exists is None:
            if dim is None or version is None:
                raise MemoryStoreError(f"{self.folder} holds no memory store yet, and no embedding space was given to make one")
            initial = {"format": FORMAT, "dim": dim, "version": version, "rows": 0, "generation": 0, "deletes": 0}
            with self._transaction():
                self.db.executemany("INSERT INTO state VALUES (?, ?)", [(k, str(v)) for k, v in initial.items()])
        elif int(exists[0]) != FORMAT:
            raise MemoryStoreError(f"{self.folder} is a memory store of format {exists[0]}; this Rosetta reads format {FORMAT}")

    def _read_state(self) -> dict[str, Any]:
        rows = dict(self.db.execute("SELECT key, value FROM state").fetchall())
        if "format" not in rows:
            raise MemoryStoreError(f"{self.folder} holds no memory store yet")
        return {key: (value if key == "version" else int(value)) for key, value in rows.items()}

    def _vector_path(self, generation: int | None = None) -> Path:
        return self.folder / f"vectors-{self._state['generation'] if generation is None else generation}.f32"

    def _recover(self) -> None:
        """Make the folder agree with the last commit: cut the vector tail, zero rows deleted but not yet wiped."""
        path = self._vector_path()
        self._vector_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        committed = self._state["rows"] * self.dim * 4
        if os.fstat(self._vector_fd).st_size < committed:
            raise MemoryStoreError(f"{path} is shorter than its {self._state['rows']} committed rows; the store is damaged")
        os.ftruncate(self._vector_fd, committed)
        self._wipe_pending()
        for stray in self.folder.iterdir():
            stale_vectors = stray.name.startswith("vectors-") and stray != path
            if stale_vectors or stray.name.endswith(".tmp"):
                stray.unlink()

    @property
    def rows(self) -> int:
        return self._state["rows"]

    def _vectors(self) -> np.ndarray:
        """The committed rows as a read-only memory map (re-mapped when rows were added)."""
        rows = self._state["rows"]
        if rows != self._matrix_rows:
            self._matrix = (
                np.memmap(self._vector_path(), dtype=np.float32, mode="r", shape=(rows, self.dim))
                if rows else np.empty((0, self.dim), np.float32)
            )
            self._matrix_rows = rows
        return self._matrix

    def _transaction(self):
        store = self

        class Transaction:
            def __enter__(self):
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, error, trace):
                store.db.execute("COMMIT" if kind is None else "ROLLBACK")
                return False

        return Transaction()

    # Index -------------------------------------------------------------------------------------------

    def _snapshots(self) -> list[tuple[Path, int, int, int, int, int]]:
        found = []
        for path in self.folder.glob("index-g*.faiss"):
            match = SNAPSHOT.search(path.name)
            if match:
                found.append((path, *map(int, match.groups())))  # generation, rows, deletes, trained rows, nprobe
        return found

    def _best_snapshot(self) -> tuple[Path, int, int, int, int, int] | None:
        state = self._state
        usable = [s for s in self._snapshots() if s[1] == state["generation"] and s[2] <= state["rows"]]
        return max(usable, key=lambda s: (s[3], s[2])) if usable else None

    def _load_snapshot(self, snapshot: tuple[Path, int, int, int, int, int]) -> bool:
        path, _, rows, deletes, trained, nprobe = snapshot
        try:
            self.ivf = IVFIndex.load(str(path), self.dim, rows, trained, nprobe, self.config.index)
        except RuntimeError:
            return False  # unreadable (being replaced, or cut short by a crash): searched exactly or rebuilt
        self._index_deletes, self._saved_covered = deletes, rows
        return True

    def _load_index(self) -> None:
        self.ivf = None
        snapshot = self._best_snapshot()
        if snapshot is not None:
            self._load_snapshot(snapshot)
        if self.writable:
            if self.ivf is not None and self._index_deletes != self._state["deletes"]:
                self.ivf = None  # it still holds deleted vectors: rebuild rather than keep them
            self._maintain_index(force=True)

    def _index_work(self, force: bool = False) -> str | None:
        """What the index needs now: 'train', 'extend', 'snapshot' or nothing."""
        rows, ivf = self._state["rows"], self.ivf
        live = rows - self._state["deletes"]
        if live >= self.config.index.exact_below and (ivf is None or live >= ivf.trained_rows * self.config.index.retrain_growth):
            return "train"
        if ivf is None:
            return None
        if rows - ivf.covered >= (1 if force else self.config.index_batch):
            return "extend"
        if ivf.covered - self._saved_covered >= max(1, self.config.snapshot_growth * ivf.covered) or (force and ivf.covered > self._saved_covered):
            return "snapshot"
        return None

    def _maintain_index(self, force: bool = False) -> None:
        """Writer only: train, extend and snapshot the IVF as the store grows (in the index thread, or now)."""
        if self._index_work(force) is None:
            return
        if self.config.background_index and not force:
            if self._builder is None or not self._builder.is_alive():
                self._builder = threading.Thread(target=self._index_in_background, name="rosetta-memory-index", daemon=True)
                self._builder.start()
            return
        self.wait_for_index(final=False)
        while (work := self._index_work(force)) is not None:
            self._index_step(work, self.db)

    def _index_in_background(self) -> None:
        connection = sqlite3.connect(str(self.folder / DB_NAME), timeout=30, check_same_thread=False)
        try:
            while (work := self._index_work()) is not None:
                self._index_step(work, connection)
        except Exception as error:  # the store stays correct (rows are scanned exactly); report and carry on
            self._builder_error = f"{type(error).__name__}: {error}"
        finally:
            connection.close()

    def _index_step(self, work: str, db: sqlite3.Connection) -> None:
        rows, deletes = self._state["rows"], self._state["deletes"]
        vectors = np.memmap(self._vector_path(), dtype=np.float32, mode="r", shape=(rows, self.dim))
        if work == "train":  # a new index, built aside: searches go on with the old one meanwhile
            live_rows = np.fromiter((r for (r,) in db.execute("SELECT row FROM items WHERE row < ? ORDER BY row", (rows,))), np.int64)
            fresh = IVFIndex(self.dim, self.config.index)
            fresh.train(vectors, live_rows)
            with self._index_lock:
                if self._state["deletes"] != deletes:  # deleted while training: their vectors are zero by now
                    fresh.remove(live_rows[~np.any(np.asarray(vectors[live_rows]) != 0, axis=1)])
                self.ivf, self._index_deletes, self._saved_covered = fresh, self._state["deletes"], 0
        elif work == "extend":
            with self._index_lock:
                self.ivf.extend(vectors, rows)
        if work in ("train", "snapshot") or self._index_work() == "snapshot":
            with self._index_lock:
                self._save_snapshot()

    def wait_for_index(self, final: bool = True) -> None:
        """Block until the index thread is idle; ``final``: also fold in every row and save the snapshot."""
        if self._builder is not None:
            self._builder.join()
            self._builder = None
        if final and self.writable:
            self._maintain_index(force=True)

    def _save_snapshot(self) -> None:
        state = self._state
        name = (
            f"index-g{state['generation']}-r{self.ivf.covered}-d{self._index_deletes}-t{self.ivf.trained_rows}"
            f"-p{self.ivf.nprobe}.faiss"
        )
        temporary = self.folder / (name + ".tmp")
        self.ivf.save(str(temporary))
        os.replace(temporary, self.folder / name)
        self._saved_covered = self.ivf.covered
        for path, *_ in self._snapshots():
            if path.name != name:
                path.unlink(missing_ok=True)

    def refresh(self) -> None:
        """Readers: pick up what the writer committed since the last look (new rows, deletes, a re-embedding)."""
        with self._lock:
            before, self._state = self._state, self._read_state()
            if self._state["generation"] != before["generation"]:
                self.version, self.dim = self._state["version"], int(self._state["dim"])
                self._matrix_rows, self._attributes = -1, None
                self._load_index()
            elif (self._state["rows"], self._state["deletes"]) != (before["rows"], before["deletes"]):
                # The writer snapshots its index as it grows; a newer snapshot shrinks this reader's exact tail.
                snapshot = self._best_snapshot()
                mine = (self._index_deletes, self.ivf.covered) if self.ivf is not None else (-1, -1)
                if snapshot is not None and (snapshot[3], snapshot[2]) > mine:
                    self._load_snapshot(snapshot)

    # Writing -----------------------------------------------------------------------------------------

    def _require_writer(self) -> None:
        if not self.writable:
            raise MemoryStoreError(f"{self.folder} is open read-only; open it writable to change it")

    def add(self, items: Sequence[MemoryItem], vectors: np.ndarray) -> None:
        self._require_writer()
        vectors = checked_vectors(items, vectors, self.dim)
        if not items:
            return
        with self._lock:
            start = self._state["rows"]
            os.pwrite(self._vector_fd, vectors.tobytes(), start * self.dim * 4)
            if self.config.sync:
                os.fdatasync(self._vector_fd)
            records = [
                (start + i, it.id, it.modality, it.text, it.source, it.conversation, json.dumps(it.tags) if it.tags else "[]",
                 it.created_at, it.content_file, json.dumps(it.extra) if it.extra else "{}")
                for i, it in enumerate(items)
            ]
            try:
                with self._transaction():
                    self.db.executemany(f"INSERT INTO items ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", records)
                    self.db.executemany("INSERT INTO tags VALUES (?, ?)", [(it.id, tag) for it in items for tag in it.tags])
                    self.db.execute("UPDATE state SET value = ? WHERE key = 'rows'", (str(start + len(items)),))
            except sqlite3.IntegrityError:
                raise MemoryStoreError("an item with one of these ids is already stored; ids must be new") from None
            self._state["rows"] = start + len(items)
            if self._attributes is not None and self._attributes[0].shape[0] == start:
                codes = np.fromiter((MODALITY_CODES[it.modality] for it in items), np.uint8, len(items))
                times = np.fromiter((it.created_at for it in items), np.float64, len(items))
                self._attributes = (np.concatenate([self._attributes[0], codes]), np.concatenate([self._attributes[1], times]))
            self._maintain_index()

    def delete(self, ids: Sequence[str]) -> list[MemoryItem]:
        self._require_writer()
        with self._lock:
            found = self._items_by_id(ids)
            if not found:
                return []
            rows = [row for row, _ in found]
            with self._transaction():
                for chunk in _chunks([item.id for _, item in found]):
                    marks = ",".join("?" * len(chunk))
                    self.db.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk)
                    self.db.execute(f"DELETE FROM tags WHERE item_id IN ({marks})", chunk)
                self.db.executemany("INSERT OR IGNORE INTO wipe VALUES (?)", [(row,) for row in rows])
                self.db.execute("UPDATE state SET value = CAST(value AS INTEGER) + ? WHERE key = 'deletes'", (len(rows),))
            self._state = self._read_state()
            if self._attributes is not None:
                self._attributes[0][[row for row in rows if row < len(self._attributes[0])]] = GONE
            self._wipe_pending()
            # Old text may survive in the write-ahead log until a checkpoint: fold it into the (zeroing) database now.
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return [item for _, item in found]

    def _wipe_pending(self) -> None:
        rows = [row for (row,) in self.db.execute("SELECT row FROM wipe")]
        if not rows:
            return
        zeros = bytes(self.dim * 4)
        for row in rows:
            if row < self._state["rows"]:
                os.pwrite(self._vector_fd, zeros, row * self.dim * 4)
        if self.config.sync:
            os.fdatasync(self._vector_fd)
        with self._index_lock:
            if self.ivf is not None:
                self.ivf.remove(np.asarray(rows, dtype=np.int64))
                self._index_deletes = self._state["deletes"]
                self._save_snapshot()  # every older snapshot still holds the deleted vectors; it is replaced now
        with self._transaction():
            self.db.executemany("DELETE FROM wipe WHERE row = ?", [(row,) for row in rows])

    def reembed(self, version: str, dim: int, embed: EmbedBatch, batch_size: int = 256, progress=None) -> int:
        self._require_writer()
        self.wait_for_index(final=False)
        with self._lock:
            generation = self._state["generation"] + 1
            target = self._vector_path(generation)
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            renumbered: list[tuple[int, str]] = []
            try:
                for batch in self._iter_by_row(batch_size):
                    vectors = np.ascontiguousarray(embed([item for _, item in batch]), dtype=np.float32)
                    if vectors.shape != (len(batch), dim) or not np.isfinite(vectors).all():
                        raise MemoryStoreError(f"re-embedding produced {vectors.shape} vectors for {len(batch)} items of {dim} dims")
                    os.pwrite(fd, vectors.tobytes(), len(renumbered) * dim * 4)
                    renumbered += [(len(renumbered) + i, item.id) for i, (_, item) in enumerate(batch)]
                    if progress is not None:
                        progress(len(batch))
                os.fsync(fd)
            finally:
                os.close(fd)
            # One transaction switches space: rows are renumbered (deleted holes closed) through negative values,
            # so no two items ever share a row mid-update.
            with self._transaction():
                self.db.executemany("UPDATE items SET row = ? WHERE id = ?", [(-1 - row, item_id) for row, item_id in renumbered])
                self.db.execute("UPDATE items SET row = -1 - row")
                self.db.execute("DELETE FROM wipe")
                for key, value in {"version": version, "dim": dim, "rows": len(renumbered), "generation": generation, "deletes": 0}.items():
                    self.db.execute("UPDATE state SET value = ? WHERE key = ?", (str(value), key))
            old = self._vector_path()
            self._state = self._read_state()
            self.version, self.dim = version, dim
            os.close(self._vector_fd)
            self._vector_fd = os.open(target, os.O_RDWR)
            old.unlink(missing_ok=True)
            for path, *_ in self._snapshots():
                path.unlink(missing_ok=True)
            self._matrix_rows, self.ivf, self._saved_covered, self._attributes = -1, None, 0, None
            self._maintain_index(force=True)
            return len(renumbered)

    # Reading -----------------------------------------------------------------------------------------

    def _iter_by_row(self, batch_size: int):
        last = -1
        while True:
            batch = [_row_to_item(r) for r in self.db.execute(
                f"SELECT {COLUMNS} FROM items WHERE row > ? ORDER BY row LIMIT ?", (last, batch_size))]
            if not batch:
                return
            yield batch
            last = batch[-1][0]

    def _items_by_id(self, ids: Sequence[str]) -> list[tuple[int, MemoryItem]]:
        found: dict[str, tuple[int, MemoryItem]] = {}
        for chunk in _chunks(list(ids)):
            query = f"SELECT {COLUMNS} FROM items WHERE id IN ({','.join('?' * len(chunk))})"
            for record in self.db.execute(query, chunk):
                row, item = _row_to_item(record)
                found[item.id] = (row, item)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def _items_by_row(self, rows: Sequence[int]) -> dict[int, MemoryItem]:
        found: dict[int, MemoryItem] = {}
        for chunk in _chunks([int(r) for r in rows]):
            query = f"SELECT {COLUMNS} FROM items WHERE row IN ({','.join('?' * len(chunk))})"
            found.update(_row_to_item(record) for record in self.db.execute(query, chunk))
        return found

    def get(self, ids: Sequence[str]) -> list[MemoryItem]:
        with self._lock:
            return [item for _, item in self._items_by_id(ids)]

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.refresh() if not self.writable else None
            rows = [row for row, _ in self._items_by_id(ids)]
            return np.array(self._vectors()[rows]) if rows else np.empty((0, self.dim), np.float32)

    def list(self, where: Filter = Filter(), limit: int = 50, offset: int = 0) -> list[MemoryItem]:
        sql, values = filter_sql(where)
        with self._lock:
            query = f"SELECT {COLUMNS} FROM items{sql} ORDER BY created_at DESC, row DESC LIMIT ? OFFSET ?"
            return [_row_to_item(r)[1] for r in self.db.execute(query, [*values, int(limit), int(offset)])]

    def count(self, where: Filter = Filter()) -> int:
        sql, values = filter_sql(where)
        with self._lock:
            return int(self.db.execute(f"SELECT COUNT(*) FROM items{sql}", values).fetchone()[0])

    def search(self, vector: np.ndarray, k: int, where: Filter = Filter(), version: str | None = None) -> list[Hit]:
        with self._lock:
            if not self.writable:
                self.refresh()
            if version is not None and version != self.version:  # re-embedded by the writer since this reader looked
                raise EmbeddingVersionError(f"{self.folder} now holds {self.version!r} vectors, not {version!r}; reopen it with that space")
            query = checked_query(vector, self.dim)
            if k <= 0:
                return []
            for _ in range(3):  # a re-embedding between search and join renumbers rows: search again
                generation = self._state["generation"]
                rows, scores = self._candidates(query, k, where)
                self.db.execute("BEGIN")
                try:
                    now = int(self.db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()[0])
                    # The best k first; more rows only when some of them were deleted meanwhile.
                    joined = self._items_by_row(rows[:k]) if now == generation else None
                    if joined is not None and len(joined) < min(k, len(rows)):
                        joined.update(self._items_by_row(rows[k:]))
                finally:
                    self.db.execute("COMMIT")
                if joined is not None:
                    hits = [Hit(joined[r], float(s)) for r, s in zip(rows.tolist(), scores.tolist()) if r in joined]
                    return [hit for hit in hits if where.matches(hit.item)][:k]
                self.refresh()
            raise MemoryStoreError(f"{self.folder} is being re-embedded; search again when it finishes")

    def _row_attributes(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Modality codes and times of rows [0, rows), read from SQLite once and then only for new rows."""
        codes, times = self._attributes or (np.empty(0, np.uint8), np.empty(0, np.float64))
        if len(codes) < rows:
            query = "SELECT row, modality, created_at FROM items WHERE row >= ? AND row < ?"
            new = self.db.execute(query, (len(codes), rows)).fetchall()
            more_codes, more_times = np.full(rows - len(codes), GONE, np.uint8), np.zeros(rows - len(codes))
            if new:
                positions = np.fromiter((r for r, _, _ in new), np.int64, len(new)) - len(codes)
                more_codes[positions] = [MODALITY_CODES[m] for _, m, _ in new]
                more_times[positions] = [t for _, _, t in new]
            codes, times = np.concatenate([codes, more_codes]), np.concatenate([times, more_times])
            self._attributes = (codes, times)
        return codes[:rows], times[:rows]

    def _allowed(self, where: Filter, rows: int) -> np.ndarray:
        """A bool mask over rows of what ``where`` lets through (deleted rows the writer knows of excluded)."""
        codes, times = self._row_attributes(rows)
        wanted = np.zeros(256, bool)  # a lookup table: ten times faster than np.isin over a million rows
        wanted[[MODALITY_CODES[m] for m in (where.modalities or MODALITIES)]] = True
        mask = wanted[codes]
        if where.since is not None:
            mask &= times >= where.since
        if where.until is not None:
            mask &= times < where.until
        if where.tags or where.conversation is not None:
            sql, values = filter_sql(Filter(tags=where.tags, conversation=where.conversation))
            matching = np.fromiter((r for (r,) in self.db.execute(f"SELECT row FROM items{sql}", values)), np.int64)
            keep = np.zeros(rows, bool)
            keep[matching[matching < rows]] = True
            mask &= keep
        return mask

    def _candidates(self, query: np.ndarray, k: int, where: Filter) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._vectors()
        # Deleted rows this process's index still holds (another process deleted them) are dropped at the join.
        fetch = k + min(self._state["deletes"] - self._index_deletes, 1000) + 8
        allowed = None
        if not where.is_empty:
            allowed = self._allowed(where, len(vectors))
            if self.ivf is None or np.count_nonzero(allowed) <= self.config.index.exact_below:
                return exact_search(vectors, query, fetch, np.flatnonzero(allowed))
        with self._index_lock:
            ivf = self.ivf
            if ivf is None:
                return exact_search(vectors, query, fetch)
            covered = min(ivf.covered, len(vectors))
            parts = [ivf.search(vectors, query, fetch, allowed)]
        if covered < len(vectors):  # rows the index has not taken in yet are scanned exactly
            if allowed is None:
                parts.append(_shifted(exact_search(vectors[covered:], query, fetch), covered))
            else:
                parts.append(exact_search(vectors, query, fetch, np.flatnonzero(allowed[covered:]) + covered))
        return merge_results(parts, fetch)

    def stats(self) -> dict:
        with self._lock:
            if not self.writable:
                self.refresh()
            by_modality = dict(self.db.execute("SELECT modality, COUNT(*) FROM items GROUP BY modality").fetchall())
            files = {path.name: path.stat().st_size for path in self.folder.iterdir() if path.is_file()}
            return {
                "items": sum(by_modality.values()), "by_modality": by_modality, "version": self.version, "dim": self.dim,
                "rows": self._state["rows"], "index": (
                    f"IVF-SQ8, {self.ivf.nlist} lists, {self.ivf.nprobe} probed, {self.ivf.covered} rows"
                    if self.ivf is not None else "exact (every vector scanned)"
                ), "bytes": sum(files.values()), "files": files,
                **({"index_error": self._builder_error} if self._builder_error else {}),
            }

    def close(self) -> None:
        with self._lock:
            if self.writable and getattr(self, "db", None) is not None:
                try:
                    self.wait_for_index()
                except (sqlite3.Error, OSError, RuntimeError):
                    pass  # the index is derived data: the next writer rebuilds what is missing
            if getattr(self, "db", None) is not None:
                self.db.close()
                self.db = None
            if self._vector_fd is not None:
                os.close(self._vector_fd)
                self._vector_fd = None
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None


def _shifted(found: tuple[np.ndarray, np.ndarray], offset: int) -> tuple[np.ndarray, np.ndarray]:
    return found[0] + offset, found[1]


def _chunks(values: list, size: int = SQL_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


__all__ = ["LocalStore", "LocalStoreConfig"]
