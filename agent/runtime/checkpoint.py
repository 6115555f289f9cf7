"""Finding a Hugging Face checkpoint: a local folder, the local hub cache, or the hub, failing fast offline.

transformers alone, asked for an uncached hub id without a network, retries and then raises a long
traceback. Here one cheap probe decides up front, and the user gets one line saying which it was and what
to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from agent.errors import ModelLoadError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
HUB_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Checkpoint:
    location: str  # folder path or hub id, as from_pretrained takes it
    local_files_only: bool  # True when it must load from disk (offline, or the hub is unreachable)


def _offline_hint(model_id: str) -> str:
    return (
        f"download it where there is network (`hf download {model_id}`) and copy the folder here, "
        "then pass it as hf:/path/to/folder"
    )


def resolve_checkpoint(name: str) -> Checkpoint:
    """Resolve ``name`` (a folder or a hub id) to something from_pretrained can load, or raise ModelLoadError."""
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"folder {str(path)!r} has no config.json; point at a folder saved by save_pretrained")
        return Checkpoint(str(path), local_files_only=True)
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or not _REPO_ID.match(name):
        raise ModelLoadError(f"model folder {name!r} does not exist; check the path (hub ids look like org/name)")

    cached = huggingface_hub.try_to_load_from_cache(name, "config.json")
    is_cached = isinstance(cached, str)
    if huggingface_hub.constants.is_offline_mode():
        if not is_cached:
            raise ModelLoadError(
                f"model {name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {_offline_hint(name)}"
            )
        return Checkpoint(name, local_files_only=True)
    try:
        huggingface_hub.model_info(name, timeout=HUB_PROBE_TIMEOUT_S)
    except GatedRepoError:
        raise ModelLoadError(f"model {name!r} is gated; accept its license on the hub and log in (`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"no model {name!r} on the Hugging Face hub; check the id, or pass a local folder") from None
    except Exception as error:  # network failures come as several httpx/OS types: all mean "unreachable"
        if is_cached:
            return Checkpoint(name, local_files_only=True)
        raise ModelLoadError(
            f"cannot reach the Hugging Face hub ({type(error).__name__}) and {name!r} is not cached; {_offline_hint(name)}"
        ) from None
    return Checkpoint(name, local_files_only=False)
