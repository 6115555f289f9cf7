"""The files an attachment's path crosses: `rosetta chat --image examples/scene.png "..."` and
`rosetta chat --audio examples/question.wav` on the embedded default, run in this process under a profiler that
notes every call into the project's own code (agent/, tools/) whose arguments carry the attachment: its path, the
decoded picture or waveform, the block that holds it, a message or list of messages with that block. Writes
docs/paths.json: per path, the calls in order, the files they cross, and how often the path changes file.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/trace_paths.py [--before 8081d10] [--out docs/paths.json]

With --before, the same script also measures that older commit (checked out into a temporary worktree, with this
checkout's environment), and the result holds both: that is how the layout issue's before and after compare. Counted from the CLI's start to the step where the attachment becomes the model's input; a function that merely passes the object on
counts like one that works on it, because either way a reader has to open that file to follow the path.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Each path: the command, and the function where the attachment becomes what the model takes in: for a drawing,
# the scene reader's words (SceneReader.read; before the reader, the vision encoder's pixels-to-tensor step,
# "preprocess"); for a recording, the transcript that a core which cannot hear reads instead.
PATHS = {
    "image": (["chat", "--no-memory", "--image", "examples/scene.png", "What is in this picture?"], ("read", "preprocess")),
    "audio": (["chat", "--no-memory", "--audio", "examples/question.wav"], ("transcribe_block",)),
}
# Types that hold an attachment, by class name so that an older checkout with other module names is measured by
# the same rule.
GENERATOR = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
CARRIERS = {"ImageBlock", "AudioBlock", "Image", "PngImageFile", "JpegImageFile"}


def carries(value: Any, media: str, depth: int = 2) -> bool:
    """Whether ``value`` is, or shallowly holds, the attachment (its path, a picture, a media block)."""
    if isinstance(value, str):
        return value.endswith(media)
    if isinstance(value, Path):
        return str(value).endswith(media)
    if type(value).__name__ in CARRIERS:
        return True
    if depth == 0:
        return False
    if type(value).__name__ == "Message":
        return any(carries(block, media, depth - 1) for block in getattr(value, "content", ()))
    if isinstance(value, (list, tuple)) and len(value) < 64:
        return any(carries(item, media, depth - 1) for item in value)
    return False


class Arrived(Exception):
    """Raised by the profiler when the attachment reaches the model's input: the path ends there."""


def trace(argv: list[str], ends: tuple[str, ...]) -> list[str]:
    """The project's calls, in order, whose arguments carry the attachment of ``argv``, as 'file:function', up to
    and including the first call of a function named one of ``ends``."""
    from agent.cli import main as cli_main

    media = Path(argv[argv.index("--image") + 1 if "--image" in argv else argv.index("--audio") + 1]).name
    project = (str(ROOT / "agent"), str(ROOT / "tools"))
    calls: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or not frame.f_code.co_filename.startswith(project):
            return
        code = frame.f_code
        if code.co_flags & GENERATOR and frame.f_lasti > 0:
            return  # a generator resumed for its next item, not a new call
        arguments = [frame.f_locals.get(name) for name in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]]
        if any(carries(value, media) for value in arguments if value is not None):
            calls.append(f"{Path(code.co_filename).relative_to(ROOT)}:{code.co_name}")
            if code.co_name in ends:
                raise Arrived

    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli_main(argv)
    except Arrived:
        pass
    finally:
        sys.setprofile(None)
    if not calls or calls[-1].rpartition(":")[2] not in ends:
        raise SystemExit(f"none of {', '.join(ends)} was reached: the trace does not cover this checkout's path")
    return calls


def summarise(calls: list[str]) -> dict:
    files = [call.split(":")[0] for call in calls]
    changes = sum(1 for before, after in zip(files, files[1:]) if before != after)
    return {"calls": len(calls), "files": sorted(set(files)), "files_crossed": len(set(files)),
            "file_changes": changes, "sequence": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also measure this older commit (e.g. 8081d10, before the layout issue)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "paths.json"))
    args = parser.parse_args()

    result: dict[str, Any] = {"revision": git("rev-parse", "--short", "HEAD")}
    for name, (argv, ends) in PATHS.items():
        result[name] = summarise(trace(argv, ends))
        print(f"{name}: {result[name]['files_crossed']} files, {result[name]['file_changes']} changes of file")
    if args.before:
        result["before"] = measure_commit(args.before)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


def git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()


def measure_commit(commit: str) -> dict:
    """This script's result for an older commit: run there, in a temporary worktree, by this Python."""
    with tempfile.TemporaryDirectory(prefix="rosetta-paths-") as scratch:
        tree = Path(scratch) / "tree"
        git("worktree", "add", "--detach", str(tree), commit)
        try:
            script = tree / "benchmarks" / Path(__file__).name
            script.write_text(Path(__file__).read_text())
            out = Path(scratch) / "paths.json"
            subprocess.run([sys.executable, str(script), "--out", str(out)], cwd=tree, check=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
            return json.loads(out.read_text())
        finally:
            git("worktree", "remove", "--force", str(tree))


if __name__ == "__main__":
    main()
