"""Train the agent's tool router (agent/models/tool_router.py): `rosetta train router`.

What it learns from, each request with what the turn holds (image, audio, working folder, memory) and the tools a
good agent calls, in order (none for most questions):
- requests written by hand, apart from the evaluation set, by three writers who saw only the tools' schemas:
  benchmarks/data/tool_use_calibration.jsonl (none and single-tool), tool_use_train_written.jsonl and
  tool_use_train_written2.jsonl (also plans of two and three tools, the second mostly plans);
- the stage-3 generators' requests (agent/train/tool_use_data.py): single-tool requests and the no-tool
  questions whose answers the adapter learned from the base model.
Never the held-out evaluation set: a written request that copies one of its requests or shares a six-word phrase
with one is dropped (load_written), and tests/train/test_train_tool_router.py checks what is left.

Each request of n steps gives n + 1 examples: with the first k tools called, the next one (or "answer" after the
last). Copies of each request get context it does not need (an image attached to a plain question, memory on
for a sum), so having a tool at hand is no reason to call it. The answer bias is picked on a validation split of
the written requests: the one that best balances plain questions answered plainly against tool requests routed
right; then the router is trained again on everything.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from agent.train.agent_eval import HELDOUT_SET
from agent.train.overlap import RequestIndex
from agent.models.tool_router import (
    RouterConfig,
    RouterNet,
    RouteState,
    ToolRouter,
    allowed_mask,
    flatten_pieces,
    hashed_pieces,
    state_features,
)
from agent.tooling import needs_met
from tools.defaults import DEFAULT_TOOL_NAMES, full_default_set

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "benchmarks" / "data"
WRITTEN_SETS = (DATA / "tool_use_calibration.jsonl", DATA / "tool_use_train_written.jsonl", DATA / "tool_use_train_written2.jsonl")
TOOLS = DEFAULT_TOOL_NAMES  # the router learns the default set, in its listing order
NEEDS = {tool.name: tuple(tool.needs) for tool in full_default_set()}  # what each needs, as the tools declare it


@dataclass
class RouterTrainConfig:
    generated: int = 3000  # single-tool requests drawn from the stage-3 generators
    general: int = 2000  # draws of the generators' no-tool questions (about 440 distinct)
    extra_context_copies: int = 2  # copies of each request with context it does not need
    epochs: int = 40
    batch: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 128
    validation_share: float = 0.2  # of the written requests, to pick the answer bias
    biases: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    seed: int = 0


@dataclass
class Example:
    state: RouteState
    offered: tuple[str, ...]
    label: int  # 0: answer; i: TOOLS[i - 1]


def load_written(paths: Sequence[Path] = WRITTEN_SETS, held_out: Path | None = HELDOUT_SET) -> list[dict[str, Any]]:
    """The written training requests, less any that copies a held-out request or shares a phrase of
    overlap.NGRAM words with one: writers who never saw the evaluation still ask its common questions ("Which
    planet is closest to the Sun?"), and a question trained on is no longer held out."""
    rows = []
    for path in paths:
        if path.is_file():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if held_out is None or not held_out.is_file():
        return rows
    index = RequestIndex(json.loads(line)["request"] for line in held_out.read_text().splitlines() if line.strip())
    return [row for row in rows if not index.overlaps(row["request"])]


def _have(context: dict[str, Any]) -> dict[str, bool]:
    return {"image": context.get("attachment") == "image", "audio": context.get("attachment") == "audio",
            "root": bool(context.get("root")), "memory": bool(context.get("memory"))}


def offered_tools(have: dict[str, bool]) -> tuple[str, ...]:
    """The default tools that can work with what the turn holds (the loop's offering rule, tooling.Tool.needs)."""
    return tuple(tool for tool in TOOLS if needs_met(tool, NEEDS[tool], have))


def with_extra_context(context: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    extra = dict(context)
    if extra.get("attachment") is None and rng.random() < 0.5:
        extra["attachment"] = rng.choice(("image", "audio"))
    extra["root"] = bool(extra.get("root")) or rng.random() < 0.5
    extra["memory"] = bool(extra.get("memory")) or rng.random() < 0.5
    return extra


def examples_of(rows: Sequence[dict[str, Any]], copies: int, rng: random.Random) -> list[Example]:
    examples = []
    for row in rows:
        contexts = [row["context"]] + [with_extra_context(row["context"], rng) for _ in range(copies)]
        for context in contexts:
            have = _have(context)
            offered = offered_tools(have)
            called: list[str] = []
            for step in list(row["steps"]) + [None]:
                tool = None if step is None else step["tool"]
                if tool is not None and tool not in offered:
                    break  # a row whose context cannot run its plan teaches nothing right
                examples.append(Example(RouteState(row["request"], have, tuple(called)), offered,
                                        0 if tool is None else 1 + TOOLS.index(tool)))
                if tool is not None:
                    called.append(tool)
    return examples


def generated_rows(config: RouterTrainConfig) -> list[dict[str, Any]]:
    """Requests from the stage-3 generators, as rows: one tool each, or none."""
    from agent.train.emoji_data import load_concepts
    from agent.train.tool_use_data import draw_turn, general_requests
    from agent.train.tool_use_words import SMALL_TALK
    from agent.messages import AudioBlock

    rng = random.Random(config.seed)
    concepts = load_concepts()
    rows = []
    for index in range(config.generated):
        drawn = draw_turn(rng, concepts, 40_000_000 + index * 20)
        if drawn is None:
            continue
        turn, attached = drawn
        context: dict[str, Any] = {"attachment": "audio" if isinstance(attached, AudioBlock) else "image" if attached else None,
                                   "root": turn.tool in ("list_files", "read_file") or "path" in turn.arguments,
                                   "memory": turn.tool in ("remember", "recall")}
        rows.append({"request": turn.request, "context": context, "steps": [{"tool": turn.tool}]})
    plain = {"attachment": None, "root": False, "memory": False}
    rows += [{"request": request, "context": plain, "steps": []} for request in general_requests(config.general)]
    rows += [{"request": request, "context": plain, "steps": []} for request, _ in SMALL_TALK]
    return rows


def fit(router_config: RouterConfig, config: RouterTrainConfig, examples: Sequence[Example], encoder: Any,
        progress: bool = True) -> ToolRouter:
    torch.manual_seed(config.seed)
    texts = [example.state.request for example in examples]
    features = state_features(router_config, encoder.encode(texts), [example.state for example in examples])
    pieces = [hashed_pieces(text, router_config.buckets) for text in texts]
    allowed = allowed_mask(router_config, [example.offered for example in examples])
    labels = torch.tensor([example.label for example in examples])
    net = RouterNet(router_config)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    epochs = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc="router", unit="epoch")
    net.train()
    for _ in epochs:
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), config.batch):
            batch = order[start : start + config.batch]
            flat, offsets = flatten_pieces([pieces[index] for index in batch.tolist()])
            logits = net(features[batch], flat, offsets).masked_fill(~allowed[batch], -1e9)
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return ToolRouter(router_config, net.eval(), encoder)


def route_rows(router: ToolRouter, rows: Sequence[dict[str, Any]]) -> list[list[str | None]]:
    """Each row's plan as the router makes it, step by step from its own choices (at most len(steps) + 2)."""
    plans = []
    for row in rows:
        have = _have(row["context"])
        offered = offered_tools(have)
        called: list[str] = []
        plan: list[str | None] = []
        for _ in range(len(row["steps"]) + 2):
            tool = router.decide(RouteState(row["request"], have, tuple(called)), offered).tool
            plan.append(tool)
            if tool is None:
                break
            called.append(tool)
        plans.append(plan)
    return plans


def plan_scores(router: ToolRouter, rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Shares of rows routed right: plain questions answered plainly, single and multi-tool plans exactly."""
    right: dict[str, list[bool]] = {"none": [], "single": [], "multi": []}
    for row, plan in zip(rows, route_rows(router, rows)):
        expected = [step["tool"] for step in row["steps"]] + [None]
        kind = "none" if not row["steps"] else "single" if len(row["steps"]) == 1 else "multi"
        right[kind].append(plan == expected)
    return {kind: (sum(values) / len(values) if values else None) for kind, values in right.items()}


def train_router(config: RouterTrainConfig, out: Path, written: Sequence[dict[str, Any]] | None = None,
                 generated: Sequence[dict[str, Any]] | None = None, progress: bool = True) -> tuple[ToolRouter, dict[str, Any]]:
    """Pick the answer bias on a validation split, train on everything, save to ``out`` (.json/.safetensors)."""
    from agent.space.text_encoder import SentenceEncoder

    rng = random.Random(config.seed)
    written = list(load_written() if written is None else written)
    generated = list(generated_rows(config) if generated is None else generated)
    encoder = SentenceEncoder()
    router_config = RouterConfig(tools=TOOLS, encoder_dim=encoder.dim, hidden=config.hidden)
    shuffled = written[:]
    rng.shuffle(shuffled)
    cut = int(len(shuffled) * config.validation_share)
    validation, train_part = shuffled[:cut], shuffled[cut:]
    choice: dict[str, Any] = {"bias": 0.0, "validation_rows": len(validation), "by_bias": {}}
    if validation:
        router = fit(router_config, config, examples_of(generated, 1, rng) + examples_of(train_part, config.extra_context_copies, rng),
                     encoder, progress)
        best = None
        for bias in config.biases:
            router.config.answer_bias = bias
            scores = plan_scores(router, validation)
            tool_rows = [value for key, value in scores.items() if key != "none" and value is not None]
            balance = ((scores["none"] or 0.0) + (sum(tool_rows) / len(tool_rows) if tool_rows else 0.0)) / 2
            choice["by_bias"][str(bias)] = {**scores, "balance": balance}
            if best is None or balance > best:
                best, choice["bias"] = balance, bias
    router = fit(router_config, config, examples_of(generated, 1, rng) + examples_of(written, config.extra_context_copies, rng),
                 encoder, progress)
    router.config.answer_bias = choice["bias"]
    run = {"train": asdict(config), "rows": {"written": len(written), "generated": len(generated)}, "answer_bias": choice}
    router.save(out, {"run": run})
    return router, run


