"""Memory: a persistent store of items of any modality in the shared embedding space (see memory.py)."""

from agent.memory.memory import Memory, MemoryConfig, NewItem, default_folder
from agent.memory.records import (
    EmbeddingVersionError,
    Filter,
    Hit,
    MemoryItem,
    MemoryStoreError,
)

__all__ = ["EmbeddingVersionError", "Filter", "Hit", "Memory", "MemoryConfig", "MemoryItem", "MemoryStoreError", "NewItem", "default_folder"]
