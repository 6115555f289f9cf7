from pathlib import Path

import pytest

from agent.errors import ModelLoadError
from agent.runtime.checkpoint import resolve_checkpoint


def test_local_folder_resolves(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    checkpoint = resolve_checkpoint(str(tmp_path))
    assert checkpoint.location == str(tmp_path) and checkpoint.local_files_only


@pytest.mark.parametrize(
    "name, message",
    [
        ("./no/such/folder", "does not exist"),
        ("/abs/missing", "does not exist"),
        ("a/b/c", "does not exist"),
        ("bad id with spaces", "does not exist"),
        ("someone/some-model-that-is-not-cached", "not in the local Hugging Face cache and HF_HUB_OFFLINE"),
    ],
)
def test_unresolvable_names_fail_fast_with_one_line(name: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message) as caught:
        resolve_checkpoint(name)
    assert "\n" not in str(caught.value)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_checkpoint(str(tmp_path))


def test_unreachable_hub_is_one_line_not_a_retry_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the user did not set HF_HUB_OFFLINE: the probe must fail (no network here) or find no such repo.
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "is_offline_mode", lambda: False)
    with pytest.raises(ModelLoadError, match="cannot reach the Hugging Face hub|no model") as caught:
        resolve_checkpoint("someone/surely-not-a-real-model-3f9a")
    assert "\n" not in str(caught.value)
