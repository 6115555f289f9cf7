"""Which tool next, or none: the agent's learned judgement for a small core.

SmolLM2-135M fills a tool call's arguments well once it knows which tool to call, but it is a poor judge of
whether to call one at all: with tools offered it reached for one on most plain questions (docs/agent.md). The
router makes that decision instead, before each of the core's replies in a turn:

    features = [all-MiniLM-L6-v2(request) (384), what the turn holds (image, audio, root, memory),
                the tools already called in this turn (one bit per known tool)]
    words    = the request's words, word pairs and 3-5 letter pieces, hashed into 16,384 buckets
    hidden   = Linear(features) + mean of the words' learned vectors        (128)
    logits   = Linear(GELU(hidden)) over [answer, tool_1, ..., tool_K]; tools that cannot work here are masked out

The sentence vector carries what a request means; the hashed words carry the cue words a mean-pooled vector
blurs in a request that asks for two things ("read the receipt ... and remember the total"), and survive typos.
On a validation split of the written requests the words got both plans of two or three tools and plain questions
right more often than the sentence vector alone did (docs/agent.md, judgement; agent/train/train_tool_router.py).

"answer" means: reply without a tool (the first step: plain chat, word for word what --no-tools answers; later
steps: the answer from the results). A tool means: the core's next reply is that call, under the grammar.
The bits of called tools let it plan several steps (read a receipt, add it up, remember the total) and stop.
It is trained by agent/train/train_tool_router.py (`rosetta train router`) on written and generated requests,
never on the evaluation set, and ships as weights beside the core's (agent/weights/tool_router.*).
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from agent.paths import SHIPPED_WEIGHTS
from agent.errors import ModelLoadError
from agent.tooling import CONDITIONS

SHIPPED_ROUTER = SHIPPED_WEIGHTS / "tool_router"
ANSWER = "answer"  # the first output: no tool, reply in words


@dataclass
class RouterConfig:
    tools: tuple[str, ...]  # the tools it knows, in output order (after ANSWER)
    encoder: str = "minilm"  # agent.space.text_encoder name of the sentence encoder
    encoder_dim: int = 384
    buckets: int = 1 << 14  # hashed word and letter pieces
    hidden: int = 128
    dropout: float = 0.2
    # Added to the answer logit: > 0 answers plainly more often. Calibrated at training time (train_tool_router).
    answer_bias: float = 0.0

    @property
    def width(self) -> int:
        return self.encoder_dim + len(CONDITIONS) + len(self.tools)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RouterConfig":
        return cls(**{**data, "tools": tuple(data["tools"])})


@dataclass
class RouteState:
    """What the router reads of a turn."""

    request: str  # the user's words this turn (a spoken request's transcript when it has no text)
    have: dict[str, bool] = field(default_factory=dict)  # CONDITIONS -> whether the turn holds it
    called: Sequence[str] = ()  # tools called so far in this turn, in order


@dataclass
class Decision:
    tool: str | None  # None: answer without a tool
    probability: float  # of that choice, among the choices allowed
    scores: dict[str, float]  # every allowed choice's probability


class RouterNet(nn.Module):
    def __init__(self, config: RouterConfig):
        super().__init__()
        self.sentence = nn.Linear(config.width, config.hidden)
        self.words = nn.EmbeddingBag(config.buckets, config.hidden, mode="mean")
        nn.init.zeros_(self.words.weight)  # a piece never seen in training adds nothing
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, 1 + len(config.tools)))

    def forward(self, features: torch.Tensor, pieces: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """(batch, width) features and each request's hashed pieces (flat, with start offsets) -> (batch, 1 + tools)."""
        return self.head(self.sentence(features) + self.words(pieces, offsets))


def hashed_pieces(text: str, buckets: int) -> list[int]:
    """Words, word pairs and 3-5 letter pieces of the lower-cased text, each hashed (crc32: the same everywhere)."""
    words = re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text.lower())
    spaced = f" {' '.join(words)} "
    pieces = [f"w:{word}" for word in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    pieces += [f"c:{spaced[i:i + n]}" for n in (3, 4, 5) for i in range(len(spaced) - n + 1)]
    return [zlib.crc32(piece.encode()) % buckets for piece in pieces] or [0]


def flatten_pieces(bags: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bags of hashed pieces as EmbeddingBag takes them: one flat tensor and each bag's start offset."""
    offsets = [0]
    for bag in bags[:-1]:
        offsets.append(offsets[-1] + len(bag))
    return torch.tensor([piece for bag in bags for piece in bag], dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def state_features(config: RouterConfig, sentence: torch.Tensor, states: Sequence[RouteState]) -> torch.Tensor:
    """(batch, width): the request's sentence vector, the turn's conditions, the bits of tools called."""
    flags = [[float(state.have.get(name, False)) for name in CONDITIONS]
             + [float(tool in state.called) for tool in config.tools] for state in states]
    return torch.cat([sentence.float(), torch.tensor(flags, dtype=torch.float32)], dim=1)


def allowed_mask(config: RouterConfig, offered: Sequence[Sequence[str]]) -> torch.Tensor:
    """(batch, 1 + tools) bool: answering is always allowed; a tool only when it is offered (it can work here)."""
    return torch.tensor([[True] + [tool in names for tool in config.tools] for names in offered])


class ToolRouter:
    """``ToolRouter.load()`` the shipped router; ``decide(state, offered)`` before each reply of a turn."""

    def __init__(self, config: RouterConfig, net: RouterNet, encoder: Any = None):
        self.config = config
        self.net = net.eval()
        self._encoder = encoder
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path = SHIPPED_ROUTER) -> "ToolRouter":
        from safetensors.torch import load_file

        config_file, weights_file = folder.with_suffix(".json"), folder.with_suffix(".safetensors")
        if not (config_file.is_file() and weights_file.is_file()):
            raise ModelLoadError(f"no tool router at {folder}.json/.safetensors; train one with `rosetta train router`")
        config = RouterConfig.from_dict(json.loads(config_file.read_text())["config"])
        net = RouterNet(config)
        net.load_state_dict({name: tensor.float() for name, tensor in load_file(str(weights_file)).items()})
        return cls(config, net)

    def save(self, folder: Path, extra: dict[str, Any] | None = None) -> None:
        from safetensors.torch import save_file

        folder.parent.mkdir(parents=True, exist_ok=True)
        # float16 on disk (4 MB instead of 8): the decisions it makes are the same to the third decimal of a probability.
        save_file({name: tensor.half().contiguous() for name, tensor in self.net.state_dict().items()}, str(folder.with_suffix(".safetensors")))
        folder.with_suffix(".json").write_text(json.dumps({"config": asdict(self.config), **(extra or {})}, indent=1) + "\n")

    @property
    def encoder(self) -> Any:
        # Loaded at the first decision, not with the agent: a chat that never offers a tool never pays for it.
        with self._lock:
            if self._encoder is None:
                from agent.space.text_encoder import SentenceEncoder

                self._encoder = SentenceEncoder(self.config.encoder)
            return self._encoder

    def knows(self, names: Sequence[str]) -> bool:
        """Whether it can judge this set of tools: a tool it never learned (a custom one) leaves it to the core."""
        return bool(names) and set(names) <= set(self.config.tools)

    def logits(self, states: Sequence[RouteState], offered: Sequence[Sequence[str]]) -> torch.Tensor:
        sentence = self.encoder.encode([state.request for state in states])
        pieces, offsets = flatten_pieces([hashed_pieces(state.request, self.config.buckets) for state in states])
        with torch.inference_mode():
            logits = self.net(state_features(self.config, sentence, states), pieces, offsets)
            bias = torch.zeros_like(logits)
            bias[:, 0] = self.config.answer_bias
            return (logits + bias).masked_fill(~allowed_mask(self.config, offered), float("-inf"))

    def decide(self, state: RouteState, offered: Sequence[str]) -> Decision:
        probabilities = torch.softmax(self.logits([state], [offered])[0], dim=0)
        choices = (ANSWER,) + self.config.tools
        scores = {choice: float(p) for choice, p in zip(choices, probabilities) if choice == ANSWER or choice in offered}
        best = int(probabilities.argmax())
        return Decision(None if best == 0 else choices[best], float(probabilities[best]), scores)
