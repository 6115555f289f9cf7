"""Audio in the shared space: the shipped audio tower against transcribe-then-embed, on held-out speech.

The held-out sentences (never in training) are read by (a) eight espeak-ng voices never heard in training
(unheard accents x unheard voice variants) and (b) the Piper voice at a speaking rate never heard in training;
(c) 30 free-form sentences unlike the training templates, read by the held-out voices.
For each clip: the audio tower's vector (no transcript), and Whisper tiny.en's transcript embedded by
all-MiniLM-L6-v2 (what memory does by default). Both are scored by Recall@1/5 among all held-out sentences
(audio->text and text->audio), with the time each takes per clip on this machine.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_audio_space.py    # writes docs/audio_space.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# Sentences of another kind than the training templates (other words, other grammar, longer): how far the
# binding carries past the sentence forms it was trained on. Read by the held-out espeak voices.
from tests.speech_clips import SENTENCES as SPEECH_TEST_SENTENCES  # noqa: E402  (the speech tests' 12)

FREE_FORM = [
    *SPEECH_TEST_SENTENCES,
    "Our flight was delayed by three hours because of the storm.",
    "Can you send me the slides from yesterday's presentation?",
    "The children built a sandcastle and watched the tide wash it away.",
    "I think the printer on the second floor is out of paper again.",
    "We should book a table for six people on Saturday night.",
    "The new bridge will open to traffic at the end of the summer.",
    "Don't forget that the rent is due on the first of the month.",
    "The doctor said to take two tablets after every meal.",
    "A family of ducks crossed the road in front of the school.",
    "The library is closed on public holidays and Sunday mornings.",
    "Let's meet at the coffee shop near the train station.",
    "The battery in my laptop only lasts about an hour now.",
    "Mountain climbers set off before sunrise to reach the summit.",
    "Please turn off the lights when you leave the office.",
    "The recipe needs flour, sugar, butter and three eggs.",
    "Our neighbours are painting their fence bright yellow.",
    "The concert was cancelled because the singer lost her voice.",
    "I found an old photograph of my parents in the attic.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=None, help="held-out sentences to use (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "audio_space.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from tqdm import tqdm

    from agent.space.audio_space import load_audio_tower
    from agent.train.evaluate import recall_at
    from agent.space.text_encoder import SentenceEncoder
    from agent.train.train_audio import AudioTrainConfig, spoken_sets
    from agent.train.voices import speak
    from agent.messages import AudioBlock
    from agent.speech.transcriber import TranscribeOptions, transcribe_block

    tower = load_audio_tower()
    data = tower.meta["data"]
    config = AudioTrainConfig(train_sentences=data["train_sentences"], held_out_sentences=data["held_out_sentences"],
                              seed=data["seed"], piper_share=data["piper_share"])
    _, evaluations = spoken_sets(config)
    text = SentenceEncoder(tower.meta["text_model"])
    options = TranscribeOptions(model="tiny.en")
    transcribe_block(AudioBlock(speak("warm up", evaluations[0].voices[0])), options)  # load Whisper before timing
    tower.embed([speak("warm up", evaluations[0].voices[0])])

    from agent.train.train_audio import SpokenSet

    new_voices = evaluations[0].voices
    evaluations.append(SpokenSet("free-form sentences, held-out voices", FREE_FORM, [new_voices[i % len(new_voices)] for i in range(len(FREE_FORM))]))
    results = {}
    for spoken in evaluations:
        count = min(args.sentences or len(spoken.sentences), len(spoken.sentences))
        sentences, voices = spoken.sentences[:count], spoken.voices[:count]
        targets = text.encode(sentences)
        clips = [speak(sentence, voice) for sentence, voice in tqdm(list(zip(sentences, voices)), desc=f"speaking ({spoken.name})")]
        started = time.perf_counter()
        by_sound = torch.cat([tower.embed([clip]) for clip in tqdm(clips, desc="audio tower")])
        tower_ms = (time.perf_counter() - started) / count * 1000
        started = time.perf_counter()
        transcripts = [transcribe_block(AudioBlock(clip), options) for clip in tqdm(clips, desc="transcribing")]
        by_words = text.encode([t or "(nothing heard)" for t in transcripts])
        words_ms = (time.perf_counter() - started) / count * 1000
        rows = {}
        for name, vectors, ms in (("audio tower", by_sound, tower_ms), ("transcript + MiniLM", by_words, words_ms)):
            similarity = vectors @ targets.t()
            rows[name] = {"audio_to_text": recall_at(similarity), "text_to_audio": recall_at(similarity.t()),
                          "ms_per_clip": round(ms, 1)}
        results[spoken.name] = {"sentences": count, "voices": sorted({v.label for v in voices}), **rows,
                                "examples": [{"sentence": s, "transcript": t} for s, t in list(zip(sentences, transcripts))[:5]]}
        for name, row in rows.items():
            print(f"{spoken.name:22s} {name:20s} audio->text R@1 {row['audio_to_text']['R@1']:.1%} "
                  f"R@5 {row['audio_to_text']['R@5']:.1%}  text->audio R@1 {row['text_to_audio']['R@1']:.1%}  "
                  f"{row['ms_per_clip']:.0f} ms/clip")
    report = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "tower": {"trained": tower.meta["trained"], "config": tower.config.__dict__}, "results": results}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
