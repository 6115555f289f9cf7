"""`rosetta memory add | search | list | show | forget | stats | reembed`: the memory from a shell."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime
from typing import Callable

from agent.errors import RosettaError
from agent.memory.embedder import EmbedderConfig
from agent.memory.memory import Memory, MemoryConfig
from agent.memory.records import MODALITIES, Filter, Hit, MemoryItem

RELATIVE_TIME = re.compile(r"(\d+)([mhdw])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time(value: str | None) -> float | None:
    """'7d', '24h', '30m', '2w' (ago) or an ISO date/time ('2026-11-20', '2026-11-20T14:00')."""
    if value is None:
        return None
    match = RELATIVE_TIME.fullmatch(value.strip())
    if match:
        return time.time() - int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise RosettaError(f"cannot read the time {value!r}; use 7d, 24h, 30m, 2w or a date like 2026-11-20") from None


def add_memory_parser(commands: argparse._SubParsersAction, add_speech: Callable[[argparse.ArgumentParser], None]) -> None:
    memory = commands.add_parser("memory", help="what the agent remembers: add, search, list, show, forget, stats")
    where = memory.add_argument_group("store")
    where.add_argument("--folder", help="the embedded store's folder (default: $ROSETTA_HOME/memory)")
    where.add_argument("--milvus", metavar="URI", help="use Milvus instead: a Milvus Lite file (x.db) or http://host:19530")
    where.add_argument("--collection", default="rosetta_memory", help="Milvus collection name (with --milvus)")
    where.add_argument("--space", default="rosetta", help="embedding space: rosetta, a trained folder, hf:<CLIP/SigLIP>")
    where.add_argument("--no-ocr", action="store_true", help="do not read the text in added images")
    where.add_argument("--audio-by", choices=("transcript", "tower"), default="transcript",
                       help="embed recordings by their transcript (default) or by sound with the audio tower (no transcript)")
    actions = memory.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", help="remember files: images, recordings (by their words), .txt/.md text")
    add.add_argument("files", nargs="+", metavar="FILE")
    add.add_argument("--tag", action="append", default=[], help="tag every item (repeatable)")
    add.add_argument("--conversation", help="file them under this conversation id")
    add_speech(add)

    search = actions.add_parser("search", help="find items by text, image, recording, or like a stored item")
    search.add_argument("query", nargs="?", help="what to look for, in words")
    search.add_argument("--image", metavar="PATH", help="search by this image instead")
    search.add_argument("--audio", metavar="PATH", help="search by this recording instead (by its words, or its sound with --audio-by tower)")
    search.add_argument("--like", metavar="ID", help="items similar to this stored item")
    search.add_argument("-k", "--top", type=int, default=5, help="how many hits (default 5)")
    search.add_argument("--sheet", metavar="PNG", help="also write the image hits as a contact sheet")
    _add_filters(search)
    add_speech(search)

    listing = actions.add_parser("list", help="items, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--offset", type=int, default=0)
    _add_filters(listing)

    show = actions.add_parser("show", help="everything stored about one item")
    show.add_argument("id")
    forget = actions.add_parser("forget", help="delete items for good (vectors, records and stored files)")
    forget.add_argument("ids", nargs="*", metavar="ID")
    forget.add_argument("--conversation", help="forget everything from this conversation")
    actions.add_parser("stats", help="counts, embedding version, index and disk use")
    actions.add_parser("reembed", help="move every item into --space (after the embedding model changed)")
    memory.set_defaults(handler=run_memory)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters")
    group.add_argument("--modality", action="append", choices=MODALITIES, default=[], help="only these (repeatable)")
    group.add_argument("--since", help="only items from after: 7d, 24h, 2026-11-20 ...")
    group.add_argument("--until", help="only items from before")
    group.add_argument("--tag", action="append", default=[], help="only items with this tag (repeatable)")
    group.add_argument("--conversation", help="only items from this conversation")


def filter_from_args(args: argparse.Namespace) -> Filter:
    return Filter(
        modalities=tuple(args.modality), since=parse_time(args.since), until=parse_time(args.until),
        tags=tuple(args.tag), conversation=args.conversation,
    )


def open_memory(args: argparse.Namespace, speech=None, writable: bool = True) -> Memory:
    from agent.speech.transcriber import TranscribeOptions

    embedder = EmbedderConfig(space=args.space, ocr=not args.no_ocr, speech=speech or TranscribeOptions(), audio=args.audio_by)
    config = MemoryConfig(embedder=embedder)
    if args.milvus:
        if args.folder is None:
            raise RosettaError("--milvus needs --folder too: where the stored images and recordings are kept")
        return Memory.open_milvus(args.milvus, args.folder, collection=args.collection, config=config,
                                  any_version=args.action == "reembed")
    return Memory.open(args.folder, config=config, writable=writable)


def describe(item: MemoryItem, score: float | None = None) -> str:
    when = datetime.fromtimestamp(item.created_at).strftime("%Y-%m-%d %H:%M")
    text = " ".join(item.text.split())
    text = (text[:70] + "...") if len(text) > 73 else text
    score_part = f"{score:6.3f}  " if score is not None else ""
    return f"{item.id}  {score_part}{item.modality:<5}  {when}  {item.source or '-'}  {text}".rstrip()


def run_memory(args: argparse.Namespace) -> int:
    from agent.cli.options import quiet_transformers, speech_options_from_args

    quiet_transformers()
    speech = speech_options_from_args(args) if hasattr(args, "engine") else None
    read_only = args.action in ("list", "show", "stats", "search") and not args.milvus
    with open_memory(args, speech, writable=not read_only) as memory:
        return ACTIONS[args.action](memory, args)


def _add(memory: Memory, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    # Every file is read and checked before anything is stored: one bad file costs nothing already given.
    entries = [memory.prepare_file(path, tags=args.tag, conversation=args.conversation)
               for path in tqdm(args.files, desc="reading", disable=len(args.files) < 5 or not sys.stderr.isatty())]
    for item in memory.add_many(entries):
        print(describe(item))
    return 0


def _search(memory: Memory, args: argparse.Namespace) -> int:
    from agent.messages import AudioBlock, ImageBlock

    given = [name for name in ("query", "image", "audio", "like") if getattr(args, name)]
    if len(given) != 1:
        raise RosettaError("search by exactly one of: words, --image PATH, --audio PATH, --like ID")
    where = filter_from_args(args)
    if args.like:
        hits = memory.similar(args.like, args.top, where)
    else:
        query = args.query or (ImageBlock.load(args.image) if args.image else AudioBlock.load(args.audio))
        hits = memory.search(query, args.top, where)
    if not hits:
        print("(nothing found)")
    for hit in hits:
        print(describe(hit.item, hit.score))
    if args.sheet:
        images: list[tuple[Hit, object]] = [(hit, memory.load_image(hit.item).image) for hit in hits if hit.item.modality == "image"]
        if not images:
            raise RosettaError("no image among the hits, so no contact sheet; add --modality image to search images only")
        from agent.memory.contact_sheet import contact_sheet

        print(f"(contact sheet of {len(images)} images: {contact_sheet(images, args.sheet)})")
    return 0


def _list(memory: Memory, args: argparse.Namespace) -> int:
    where = filter_from_args(args)
    items = memory.list(where, limit=args.limit, offset=args.offset)
    for item in items:
        print(describe(item))
    print(f"({len(items)} of {memory.count(where)} shown)")
    return 0


def _show(memory: Memory, args: argparse.Namespace) -> int:
    item = memory.get(args.id)
    record = item.to_row()
    record["created"] = datetime.fromtimestamp(item.created_at).isoformat(timespec="seconds")
    path = memory.content_path(item)
    record["content_path"] = str(path) if path else None
    print(json.dumps(record, indent=1, ensure_ascii=False))
    return 0


def _forget(memory: Memory, args: argparse.Namespace) -> int:
    if not args.ids and not args.conversation:
        raise RosettaError("forget what? give item ids, or --conversation ID")
    forgotten = memory.delete(args.ids) if args.ids else []
    missing = sorted(set(args.ids) - {item.id for item in forgotten})
    count = len(forgotten) + (memory.forget_conversation(args.conversation) if args.conversation else 0)
    print(f"forgot {count} item(s)")
    if missing:
        raise RosettaError(f"no item {missing[0]!r} in memory{' (and others)' if len(missing) > 1 else ''}; nothing else changed")
    return 0


def _stats(memory: Memory, args: argparse.Namespace) -> int:
    print(json.dumps(memory.stats(), indent=1))
    return 0


def _reembed(memory: Memory, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with tqdm(total=memory.count(), desc="re-embedding", disable=not sys.stderr.isatty()) as bar:
        count = memory.reembed(progress=bar.update)
    print(f"re-embedded {count} item(s) with {memory.embedder.version}")
    return 0


ACTIONS = {"add": _add, "search": _search, "list": _list, "show": _show, "forget": _forget, "stats": _stats, "reembed": _reembed}
