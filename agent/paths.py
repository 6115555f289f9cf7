"""Where Rosetta keeps what it builds on a user's machine (converted models, later: memory stores)."""

from __future__ import annotations

import os
from pathlib import Path


def rosetta_home() -> Path:
    """$ROSETTA_HOME, else $XDG_CACHE_HOME/rosetta, else ~/.cache/rosetta."""
    if os.environ.get("ROSETTA_HOME"):
        return Path(os.environ["ROSETTA_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rosetta"


# Rosetta's own trained weights, small safetensors shipped inside the package (the image encoder, projector, LoRA
# adapter, grounding head, audio tower, tool router), with their training curves and run records.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"
