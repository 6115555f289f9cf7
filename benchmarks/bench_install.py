"""A new user's install: the README's first command on a fresh clone with an empty HOME (so an empty pip cache).

    python3 benchmarks/bench_install.py                       # this checkout's HEAD
    python3 benchmarks/bench_install.py --ref 8081d10         # an older commit, for the before/after
    python3 benchmarks/bench_install.py --setup-args --dev --no-chat

For each run: a `git clone` of the commit into a temporary folder, then `scripts/setup.sh` (timed, cold: nothing
cached), the size of `.venv` (`du`, as the issue measures it) and of its largest packages, and the README's first
chat (timed, cold: the first start converts the packaged model). Results are appended to docs/install.json,
one entry per run, each with the commit, the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "install.json"
QUESTION = ["chat", "--image", "examples/scene.png", "What is in this picture?"]


def du_bytes(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def largest(site_packages: Path, count: int = 12) -> list[tuple[str, int]]:
    sizes = [(entry.name, du_bytes(entry)) for entry in site_packages.iterdir() if entry.is_dir()]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def run(ref: str, setup_args: list[str], chat: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rosetta-install-"))
    try:
        clone, home = work / "clone", work / "home"
        home.mkdir()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", ref], check=True)
        commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        # The machine's own pip settings stay (here PIP_FIND_LINKS points at the local CPU torch wheel).
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        env.update(HOME=str(home), HF_HUB_OFFLINE="1")
        start = time.perf_counter()
        subprocess.run(["scripts/setup.sh", *setup_args], cwd=clone, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        setup_s = time.perf_counter() - start
        venv = clone / ".venv"
        site = next((venv / "lib").glob("python3*/site-packages"))
        result = {
            "commit": commit, "setup_args": setup_args, "setup_s": round(setup_s, 1),
            "venv_bytes": du_bytes(venv), "largest_packages": largest(site),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        }
        if chat:
            start = time.perf_counter()
            done = subprocess.run([str(venv / "bin" / "rosetta"), *QUESTION], cwd=clone, env=env, capture_output=True,
                                  text=True, timeout=1200)
            result.update(first_chat_s=round(time.perf_counter() - start, 1), chat_exit=done.returncode,
                          chat_answer=done.stdout.strip()[:500], chat_stderr_tail=done.stderr.strip()[-500:])
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="HEAD", help="commit to install (default: HEAD of this checkout)")
    parser.add_argument("--setup-args", nargs=argparse.REMAINDER, default=[], help="passed to scripts/setup.sh")
    parser.add_argument("--no-chat", action="store_true", help="skip the first chat")
    parser.add_argument("--out", default=str(RESULTS), help="the JSON history the run is appended to")
    args = parser.parse_args()
    ref = subprocess.run(["git", "-C", str(ROOT), "rev-parse", args.ref], capture_output=True, text=True,
                         check=True).stdout.strip()
    result = run(ref, args.setup_args, chat=not args.no_chat)
    out = Path(args.out)
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(result)
    out.write_text(json.dumps(history, indent=1) + "\n")
    print(json.dumps({key: value for key, value in result.items() if key != "largest_packages"}, indent=1))
    print(f"venv: {result['venv_bytes'] / 2**30:.2f} GiB; largest: " +
          ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in result["largest_packages"][:6]))


if __name__ == "__main__":
    main()
