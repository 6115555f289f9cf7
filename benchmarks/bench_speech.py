"""Speech: real-time factor, word error rate and memory of each Whisper engine, on the same clips, one run.

    .venv/bin/python benchmarks/bench_speech.py                  # engines x models table
    .venv/bin/python benchmarks/bench_speech.py --long 10 60     # peak memory for 10- and 60-minute files

Clips: the twelve sentences of tests/speech_clips.py read by the packaged Piper voice, two per clip
(six clips, ~62 s, 22.05 kHz so resampling is part of the path). Each row runs in its own process:
load the model, transcribe one clip to warm up, then time all six through Rosetta's ``Transcriber``
(silero VAD + the engine; language fixed to English, beam 5). "plain faster-whisper" is the peer: the
faster-whisper library called directly on the same 16 kHz arrays, int8, beam 5, its own defaults.
Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import soundfile

from tests.speech_clips import SENTENCES, normalize, speak_with_pauses

ENGINES = ["openai-whisper", "faster-whisper", "transformers"]  # Rosetta's, through its Transcriber
PEER = "plain faster-whisper"  # every row's RTF is compared with it
MODELS = ["tiny.en", "base"]


def write_clips(folder: Path, count: int | None = None) -> list[tuple[Path, str, float]]:
    clips = []
    for index in range(0, len(SENTENCES), 2)[:count]:
        texts = SENTENCES[index : index + 2]
        samples, rate = speak_with_pauses(texts, pause_s=0.8)
        path = folder / f"clip{index // 2}.wav"
        soundfile.write(path, samples, rate)
        clips.append((path, " ".join(texts), len(samples) / rate))
    return clips


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, model: str, clip_list: Path) -> dict:
    import jiwer

    clips = json.loads(clip_list.read_text())
    started = time.perf_counter()
    if engine == PEER:
        from faster_whisper import WhisperModel

        from agent.speech.audio_stream import open_audio_stream
        from agent.speech.model_source import ct2_folder, locate_whisper

        peer = WhisperModel(ct2_folder(locate_whisper(model)), device="cpu", compute_type="int8", cpu_threads=os.cpu_count())

        def run(path: str) -> str:
            audio = np.concatenate(list(open_audio_stream(path)))
            segments, _ = peer.transcribe(audio, language="en", beam_size=5)
            return " ".join(segment.text for segment in segments)
    else:
        from agent.speech.transcriber import Transcriber, TranscribeOptions

        transcriber = Transcriber(TranscribeOptions(engine=engine, model=model, language="en"), progress=False)
        transcriber.engine  # load now, so loading is timed apart from transcribing

        def run(path: str) -> str:
            return transcriber.transcribe(path).text

    load_s = time.perf_counter() - started
    run(clips[0]["path"])  # warm-up: first-call allocations and lazy initialisation
    started = time.perf_counter()
    heard = [run(clip["path"]) for clip in clips]
    elapsed = time.perf_counter() - started
    # Scored after the clock stops: the normalizer imports openai-whisper (and torch), which is not transcription.
    references = [normalize(clip["text"]) for clip in clips]
    hypotheses = [normalize(text) for text in heard]
    audio_s = sum(clip["seconds"] for clip in clips)
    return {
        "engine": engine,
        "model": model,
        "load_s": load_s,
        "rtf": elapsed / audio_s,
        "wer": jiwer.wer(references, hypotheses),
        "peak_mib": peak_rss_mib(),
        "audio_s": audio_s,
    }


def long_worker(path: str) -> dict:
    from agent.speech.transcriber import Transcriber, TranscribeOptions

    transcriber = Transcriber(TranscribeOptions(language="en"), progress=False)
    transcriber.engine
    loaded_mib = peak_rss_mib()
    started = time.perf_counter()
    transcript = transcriber.transcribe(path)
    elapsed = time.perf_counter() - started
    return {
        "seconds": transcript.duration,
        "rtf": elapsed / transcript.duration,
        "segments": len(transcript.segments),
        "words": len(transcript.text.split()),
        "peak_after_load_mib": loaded_mib,
        "peak_mib": peak_rss_mib(),
        "engine": transcript.engine,
        "model": transcript.model,
    }


def in_subprocess(*arguments: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", *arguments], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--long", nargs="*", type=float, metavar="MINUTES", help="peak memory on long files instead")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=ENGINES,
                        help=f"Rosetta's engines to time (default: all); the {PEER} peer always runs")
    parser.add_argument("--clips", type=int, default=None, help=f"only the first N clips (default: all {len(SENTENCES) // 2})")
    parser.add_argument("--out", help="also write the table's rows here as JSON (default: print only)")
    args = parser.parse_args()
    if args.worker:
        result = long_worker(args.worker[1]) if args.worker[0] == "long" else worker(args.worker[0], args.worker[1], Path(args.worker[2]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if args.long is not None:
            rows = run_long(folder, args.long or [10, 60])
            write_rows(args.out, {"machine": machine(), "long": rows})
            return
        clips = write_clips(folder, args.clips)
        clip_list = folder / "clips.json"
        clip_list.write_text(json.dumps([{"path": str(p), "text": t, "seconds": s} for p, t, s in clips]))
        print(f"{len(clips)} clips, {sum(s for _, _, s in clips):.1f} s of speech; {machine()}\n")
        print("| model | engine | load s | real-time factor | RTF vs plain faster-whisper | WER | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        table = []
        for model in args.models:
            rows = [in_subprocess(engine, model, str(clip_list)) for engine in [*args.engines, PEER]]
            table += rows
            peer = next(row for row in rows if row["engine"] == PEER)
            for row in rows:
                print(
                    f"| {model} | {row['engine']} | {row['load_s']:.2f} | {row['rtf']:.3f} | {row['rtf'] / peer['rtf']:.2f}x "
                    f"| {row['wer']:.3f} | {row['peak_mib']:.0f} |",
                    flush=True,
                )
    write_rows(args.out, {"machine": machine(), "clips": len(clips), "rows": table})


def write_rows(out: str | None, report: dict) -> None:
    if out:
        Path(out).write_text(json.dumps(report, indent=1) + "\n")


def run_long(folder: Path, minutes_list: list[float]) -> list[dict]:
    speech, rate = speak_with_pauses(SENTENCES, pause_s=1.5)
    print(f"default engine on long recordings (FLAC, 22.05 kHz); {machine()}\n")
    print("| minutes | RTF | segments | words | peak RSS after load MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    rows = []
    for minutes in minutes_list:
        path = folder / f"long-{minutes:g}.flac"
        repeats = int(np.ceil(minutes * 60 * rate / len(speech)))
        with soundfile.SoundFile(path, "w", samplerate=rate, channels=1, format="FLAC") as out:
            for _ in range(repeats):  # written piece by piece: the benchmark itself stays small too
                out.write(speech)
        row = in_subprocess("long", str(path))
        rows.append(row)
        print(
            f"| {row['seconds'] / 60:.1f} | {row['rtf']:.3f} | {row['segments']} | {row['words']} "
            f"| {row['peak_after_load_mib']:.0f} | {row['peak_mib']:.0f} |",
            flush=True,
        )
        path.unlink()
    return rows


if __name__ == "__main__":
    main()
