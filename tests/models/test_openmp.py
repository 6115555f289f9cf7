"""A thread that hands its compute to a model's generating thread lets its OpenMP workers go: release alone,
after a chat turn, and after loading a model."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.openmp import _loaded_libgomps, release_openmp_workers
from agent.models.registry import load_model
from tests.tiny_models import build_tiny_llama

pytestmark = pytest.mark.skipif(torch.get_num_threads() < 2 or not _loaded_libgomps(),
                                reason="needs torch on libgomp with 2 or more threads (one thread has no workers)")


def thread_ids() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/task")}


def workers_after(then: Callable[[], object]) -> tuple[set[int], set[int]]:
    """On a fresh thread: compute in parallel (which starts its OpenMP workers), then ``then()``; the workers
    that started, and those of them still alive afterwards."""
    seen: dict[str, set[int]] = {}

    def run() -> None:
        before = thread_ids()
        values = torch.arange(1 << 22, dtype=torch.float32)
        for _ in range(3):
            (values * 2.0).sum()
        seen["started"] = thread_ids() - before
        then()
        deadline = time.monotonic() + 5.0  # a released worker exits on its own, a moment later
        while seen["started"] & thread_ids() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["alive"] = seen["started"] & thread_ids()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return seen["started"], seen["alive"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama"))


def test_release_ends_the_calling_threads_workers() -> None:
    started, alive = workers_after(lambda: release_openmp_workers())
    assert started  # the parallel sum did start workers
    assert alive == set()


def test_release_reaches_torchs_libgomp_when_another_is_loaded_too() -> None:
    """faiss-cpu bundles its own libgomp; with it loaded, torch's workers must still end."""
    pytest.importorskip("faiss")
    assert len(_loaded_libgomps()) >= 2
    started, alive = workers_after(lambda: release_openmp_workers())
    assert started and alive == set()


def test_workers_stay_without_a_release() -> None:
    started, alive = workers_after(lambda: None)
    assert started and alive == started  # what the other tests see end is the release, not time passing


def test_a_chat_turn_releases_the_callers_workers(tiny_llama: Path) -> None:
    model = load_model(f"hf:{tiny_llama}")
    started, alive = workers_after(lambda: model.chat([Message.user("hello")], options=GenerationOptions(max_new_tokens=3)))
    assert started and alive == set()


def test_loading_a_model_releases_the_loading_threads_workers(tiny_llama: Path) -> None:
    started, alive = workers_after(lambda: load_model(f"hf:{tiny_llama}"))
    assert started and alive == set()
