"""What the operator of ``rosetta serve`` decides: where it listens, who may call it, and how much it takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # loopback: nothing outside this machine reaches the server unless the operator says so
    port: int = 8000
    api_keys: tuple[str, ...] = ()  # bearer keys; empty: no authentication (fine on loopback)
    model_id: str = "rosetta"  # what /v1/models lists; "<model_id>-agent" runs Rosetta's own tools on the server

    # Sizes. A body holds base64 media (4/3 of the raw size), so it may be larger than any one image or recording.
    max_body_bytes: int = 32 * MiB
    max_image_bytes: int = 16 * MiB
    max_audio_bytes: int = 20 * MiB
    max_audio_seconds: float = 15 * 60.0
    max_messages: int = 256
    max_new_tokens_limit: int = 4096  # the most a request may ask for

    # Capacity: requests running at once on the model, and how many more may wait before a 429.
    concurrency: int = 1  # one generation at a time: a local model on a CPU gains nothing from more...
    # ...unless it batches: a local transformers model (the embedded default included) decodes up to ``batch``
    # requests together in shared steps (continuous batching), and that many run at once. 1: no batching.
    batch: int = 16
    queue_size: int = 32
    queue_timeout_s: float = 300.0  # a request that waited this long gets a 503

    # http(s) image URLs: off unless the operator enables them; private, loopback and link-local addresses refused.
    allow_image_urls: bool = False
    allow_private_urls: bool = False  # for a server inside a trusted network (and the tests' loopback server)
    url_max_bytes: int = 10 * MiB
    url_timeout_s: float = 10.0

    # Agent mode: the file tools read inside this folder (None: no file tools).
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue_size < 0:
            raise ValueError("concurrency must be at least 1 and queue_size at least 0")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1 (1: no batching), got {self.batch}")

    @property
    def agent_model_id(self) -> str:
        return f"{self.model_id}-agent"
