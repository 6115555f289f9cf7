"""What every part of Rosetta runs on: the device and dtype it picks, and where checkpoints come from (a folder, the cache, or the hub when online)."""
