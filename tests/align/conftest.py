"""Fixtures for the vision side: the real emoji concepts (fetched by scripts/setup.sh --dev)."""

from __future__ import annotations

import pytest

from agent.align.emoji_data import load_concepts


@pytest.fixture(scope="session")
def concepts():
    return load_concepts()
