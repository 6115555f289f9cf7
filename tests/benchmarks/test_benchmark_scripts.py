"""Every benchmark script runs. Each runs here as its documented command does (a fresh process from the repository
root, offline) in a tiny setting, and writes its result into the test's temporary folder, never into docs/. The
checks are on what each result promises (its keys, counts, values in their range), never on timings: those are
what the full runs measure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.models.llama_cpp_engine import llama_cpp_available

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
needs_llama_cpp = pytest.mark.skipif(llama_cpp_available() is not None, reason=str(llama_cpp_available()))


def run_script(script: str, *arguments: str | float | Path) -> None:
    """Run benchmarks/<script> with ``arguments``; a failure shows the script's stderr."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, f"benchmarks/{script}", *map(str, arguments)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=environment)
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"


def read_json(path: Path) -> Any:
    assert path.is_file(), f"{path.name} was not written"
    return json.loads(path.read_text())


def assert_picture(path: Path) -> None:
    assert path.is_file(), f"{path.name} was not written"
    with Image.open(path) as picture:
        assert picture.format == "PNG" and min(picture.size) > 0


def assert_share(value: float) -> None:
    assert 0.0 <= value <= 1.0, value


def test_bench_agent_times_constrained_steps_and_checks_sampled_calls(tmp_path: Path) -> None:
    out = tmp_path / "agent_bench.json"
    run_script("bench_agent.py", "--steps", 1, "--sampled", 1, "--out", out)
    report = read_json(out)
    latency = report["step_latency"]
    assert latency["steps"] == 1 and latency["constrained_s"] > 0 and latency["unconstrained_s"] > 0
    assert latency["identical_replies"] in (0, 1)
    validity = report["sampled_validity"]
    assert validity["prompts"] == 1 and validity["invalid"] == 0  # the grammar lets no invalid call through


def test_bench_audio_space_scores_the_tower_and_transcripts_on_every_held_out_set(tmp_path: Path) -> None:
    out = tmp_path / "audio_space.json"
    run_script("bench_audio_space.py", "--sentences", 2, "--out", out)
    results = read_json(out)["results"]
    assert len(results) == 3  # held-out voices, the unheard Piper rate, free-form sentences
    for result in results.values():
        assert result["sentences"] == 2
        for side in ("audio tower", "transcript + MiniLM"):
            for direction in ("audio_to_text", "text_to_audio"):
                assert_share(result[side][direction]["R@1"])
                assert result[side][direction]["R@1"] <= result[side][direction]["R@5"]


def test_bench_backbone_probe_probes_three_feature_kinds(tmp_path: Path) -> None:
    out = tmp_path / "backbone_probe.json"
    run_script("bench_backbone_probe.py", "--concepts", 5, "--train", 2, "--test", 1, "--out", out)
    report = read_json(out)
    assert report["concepts"] == 5 and report["chance_top1"] == 0.2
    assert set(report["probes"]) == {"patches", "embedding", "backbone"}
    for probe in report["probes"].values():
        assert 0.0 <= probe["top1"] <= probe["top5"] <= 1.0 and probe["feature_dim"] > 0


def test_bench_cold_start_times_each_kind_of_process(tmp_path: Path) -> None:
    out = tmp_path / "cold_start.json"
    run_script("bench_cold_start.py", "--repeats", 1, "--out", out)
    report = read_json(out)
    assert len(report["sides"]) == 3  # tools and memory on, off, and the imports-only floor
    for side in report["sides"].values():
        assert len(side["all_s"]) == 1 and side["first_s"] > 0
    assert report["ratio_tools_on_over_off"] > 0 and report["peak_rss_mib_any_child"] > 0


@pytest.fixture(scope="module")
def untrained_flamingo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Flamingo-style core as `rosetta train flamingo` saves one, untrained: the core is not shipped, and training
    one takes far longer than this test. What bench_cores measures on it is the script's path, not the core's skill."""
    from agent.train.train_flamingo import FlamingoTrainConfig, build_model
    from agent.vision.flamingo import save_flamingo

    folder = tmp_path_factory.mktemp("flamingo")
    model, _ = build_model(FlamingoTrainConfig(), None)
    save_flamingo(model.core, folder, {"steps": 0})
    return folder


def test_bench_cores_measures_both_cores(tmp_path: Path, untrained_flamingo: Path) -> None:
    out = tmp_path / "cores.json"
    run_script("bench_cores.py", "--vqa-scenes", 1, "--no-blind", "--repeats", 1, "--images", 1,
               "--flamingo", untrained_flamingo, "--out", out)
    cores = read_json(out)["cores"]
    assert set(cores) == {"llava", "flamingo"}
    for core in cores.values():
        [row] = core["prefill"]
        assert row["images"] == 1 and row["prompt_tokens"] > 0 and row["first_token_ms"] > 0
        assert core["vqa"]["scenes"] == 1 and core["vqa_blind"] is None
        for kind in core["vqa"]["per_kind"].values():
            assert_share(kind["accuracy"])
    # LLaVA-style puts the image's projected tokens in the prompt; Flamingo-style cross-attends instead.
    assert cores["llava"]["prefill"][0]["prompt_tokens"] > cores["flamingo"]["prefill"][0]["prompt_tokens"]


def test_bench_embedded_measures_each_kind_of_side(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    # One side of each runner: rosetta-llama.cpp is the rosetta side on the other engine (tested on its own in
    # tests/models). The llama.cpp peer needs llama-cpp-python (an extra); without it the others still run.
    sides = ["plain", "rosetta"] + (["llama.cpp"] if llama_cpp_available() is None else [])
    run_script("bench_embedded.py", "--new-tokens", 4, "--repeats", 1, "--rounds", 1, "--sides", ",".join(sides),
               "--out", out)
    report = read_json(out)
    assert set(report["sides"]) == set(sides)
    for side in report["sides"].values():
        assert len(side["first_token_s"]) == 1 and len(side["follow_up_first_token_s"]) == 1 and side["tokens"][0] > 0
    rosetta = report["sides"]["rosetta"]  # Rosetta alone also runs the image and agent turns
    assert len(rosetta["image_first_token_s"]) == 1 and len(rosetta["tools_first_token_s"]) == 1


def test_bench_fusion_scores_every_fusion_kind_on_both_tasks(tmp_path: Path) -> None:
    out = tmp_path / "fusion.json"
    run_script("bench_fusion.py", "--objects", 2, "--rates", 1.0, "--train", 16, "--test", 8, "--steps", 2, "--out", out)
    report = read_json(out)
    assert len(report["objects"]) == 2 and set(report["tasks"]) == {"agreement", "redundant"}
    for task in report["tasks"].values():
        assert task["classes"] == 2 and set(task["results"]) == {"early", "intermediate", "late"}
        for row in task["results"].values():
            for condition in ("both", "image_corrupted", "audio_corrupted", "image_missing", "audio_missing"):
                assert_share(row[condition])


def test_bench_grounding_scores_both_splits_and_draws_examples(tmp_path: Path) -> None:
    out = tmp_path / "grounding.json"
    run_script("bench_grounding.py", "--scenes", 1, "--window-scenes", 1, "--out", out)
    report = read_json(out)
    assert set(report["splits"]) == {"test", "test-combos"}
    for split in report["splits"].values():
        assert split["attention_then_crop_check"]["queries"] > 0
        assert_share(split["attention_alone"]["iou50"])
        assert_share(split["attention_then_crop_check"]["iou50"])
        assert_share(split["presence_balanced_accuracy"])
    compared = report["windows_vs_grounding"]
    assert compared["questions"] > 0
    assert_share(compared["windows"]["iou50"])
    assert_share(compared["grounding"]["iou50"])
    assert_picture(tmp_path / "grounding_examples.png")


@pytest.mark.skip(reason="bench_install.py has no tiny setting: it clones the repository and installs it with an empty "
                  "pip cache (the network, many minutes); its install, scripts/setup.sh, is what the CI runs first (.ci/run)")
def test_bench_install_installs_a_fresh_clone(tmp_path: Path) -> None:
    out = tmp_path / "install.json"
    run_script("bench_install.py", "--no-chat", "--out", out)
    [run] = read_json(out)
    assert run["setup_s"] > 0 and run["venv_bytes"] > 0 and run["largest_packages"]


def test_bench_memory_compares_the_three_stores_on_both_data_sets(tmp_path: Path) -> None:
    out = tmp_path / "memory_bench.json"
    # The mixture fits 256 clusters and 384 principal axes to the real vectors: 400 is about the fewest it takes.
    run_script("bench_memory.py", "--vectors", 400, "--real", 400, "--queries", 5, "--cache", tmp_path / "cache",
               "--out", out)
    results = read_json(out)["results"]
    assert {(r["dataset"], r["system"]) for r in results} == {
        (dataset, system) for dataset in ("real", "synthetic")
        for system in ("numpy brute force", "FAISS IndexFlatIP", "Rosetta LocalStore")}
    for result in results:
        assert result["vectors"] == 400 and result["insert_per_s"] > 0
        assert_share(result["recall_at_10"])
        if result["system"] == "numpy brute force":
            assert result["recall_at_10"] == 1.0  # exact search: the truth itself
    assert_picture(out.with_suffix(".png"))


def test_bench_photo_models_checks_agreement_with_tfjs_and_detects(tmp_path: Path) -> None:
    out = tmp_path / "photo_models.json"
    run_script("bench_photo_models.py", "--repeats", 1, "--out", out)
    report = read_json(out)
    assert set(report["models"]) == {"centernet", "nanodet"}
    for model in report["models"].values():
        for output in model["agreement_with_tfjs"].values():
            assert output["max_abs_difference"] <= 1e-3 * max(1.0, output["largest_value"])
    assert "person" in [found["label"] for found in report["centernet_on_grace_hopper"]["found"]]


def test_bench_pretraining_runs_both_kinds_and_plots_them(tmp_path: Path) -> None:
    out = tmp_path / "pretraining.json"
    run_script("bench_pretraining.py", "--runs", tmp_path / "runs", "--shares", 1.0, "--contrastive-steps", 1,
               "--pretrain-steps", 1, "--eval-scenes", 8, "--zero-shot-images", 8, "--out", out)
    rows = read_json(out)["rows"]
    assert sorted(row["pretrained"] for row in rows) == [False, True]
    for row in rows:
        assert_share(row["zero_shot_top1"])
        assert_share(row["image_to_text_R@1"])
    assert_picture(out.with_suffix(".png"))


def test_bench_server_loads_the_server_and_compares_http_with_python(tmp_path: Path) -> None:
    out = tmp_path / "server_bench.json"
    run_script("bench_server.py", "--batch", 1, "--clients", 1, "--seconds", 2, "--overhead", 1, "--max-tokens", 4,
               "--out", out)
    report = read_json(out)
    [row] = report["load"]["1"]
    assert row["clients"] == 1 and row["requests"] >= 1 and row["errors"] == 0
    assert report["overhead"]["requests"] == 1 and report["overhead"]["latency_ratio_http_over_direct"] > 0


def test_bench_speech_times_an_engine_against_the_plain_peer(tmp_path: Path) -> None:
    out = tmp_path / "speech.json"
    # Each engine is a separate process of the same worker: one of Rosetta's and the peer cover both of its paths.
    run_script("bench_speech.py", "--models", "tiny.en", "--engines", "faster-whisper", "--clips", 1, "--out", out)
    report = read_json(out)
    assert report["clips"] == 1
    assert [row["engine"] for row in report["rows"]] == ["faster-whisper", "plain faster-whisper"]
    for row in report["rows"]:
        assert row["rtf"] > 0 and row["wer"] < 0.5  # clean synthetic speech: each hears most words


def test_bench_vision_measures_throughput_and_time_to_first_token(tmp_path: Path) -> None:
    out = tmp_path / "vision.json"
    run_script("bench_vision.py", "--scenes", 8, "--runs", 1, "--out", out)
    report = read_json(out)
    assert report["scenes"] == 8 and all(rate > 0 for rate in report["images_per_s"].values())
    assert set(report["ttft_ms"]) == {"text_only", "image_first_sight", "image_cached", "image_uncached"}
    assert all(ms > 0 for ms in report["ttft_ms"].values())


def test_calibrate_call_gate_picks_a_threshold_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "call_gate.json"
    run_script("calibrate_call_gate.py", "--limit", 4, "--out", out)
    report = read_json(out)
    assert len(report["rows"]) == 4 and sum(report["counts"].values()) == 4
    for row in report["rows"]:
        assert_share(row["p"])
    assert report["pick"]["threshold"] in [entry["threshold"] for entry in report["sweep"]]
    assert_picture(out.with_suffix(".png"))


@needs_llama_cpp
def test_engine_agreement_compares_both_engines_token_by_token(tmp_path: Path) -> None:
    out = tmp_path / "engine_agreement.json"
    run_script("engine_agreement.py", "--prompts", 1, "--new-tokens", 4, "--out", out)
    report = read_json(out)
    assert [row["tools"] for row in report["rows"]] == [False, True]  # one plain chat, one agent question
    for row in report["rows"]:
        assert 0 <= row["tokens_before_first_difference"] <= 4
    assert report["summary"]["all"]["prompts"] == 2
    assert_share(report["summary"]["all"]["identical"])


def test_eval_agent_scores_a_held_out_request(tmp_path: Path) -> None:
    out = tmp_path / "agent_eval.json"
    run_script("eval_agent.py", "--limit", 1, "--out", out)
    report = read_json(out)
    assert report["engine"] == "torch" and len(report["rows"]) == 1 and report["summary"]["requests"] == 1


def test_eval_tool_use_scores_a_request(tmp_path: Path) -> None:
    out = tmp_path / "tool_use_eval.json"
    run_script("eval_tool_use.py", "--limit", 1, "--out", out)
    report = read_json(out)
    assert report["constrained"] and len(report["rows"]) == 1
    overall = report["summary"]["overall"]
    assert overall["requests"] == 1
    assert_share(overall["selection"])


def test_plot_judgement_draws_the_shipped_results(tmp_path: Path) -> None:
    out = tmp_path / "agent_judgement.png"
    run_script("plot_judgement.py", "--out", out)
    assert_picture(out)


def test_profile_decode_splits_a_decode_step(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    run_script("profile_decode.py", "--steps", 4, "--out", out)
    report = read_json(out)
    assert report["steps"] == 4 and report["ms_a_step"] > 0 and report["weights_mib"] > 0
    # The operators' groups and what is left outside them make up the whole step.
    assert sum(report["ms_a_step_by_group"].values()) == pytest.approx(report["ms_a_step"])


def test_bench_photos_asks_the_chat_and_the_server_about_a_photo(tmp_path: Path) -> None:
    out = tmp_path / "photos.json"
    run_script("bench_photos.py", "--repeats", 1, "--photos", 1, "--no-tfjs", "--out", out)
    report = read_json(out)
    row = report["rows"][0]
    assert report["summary"]["photos"] == 1 and row["id"] == "astronaut" and row["is_photo"]
    assert row["main_named"] and row["server_main_named"] and row["people_right"]  # the portrait's person, once
    assert report["tfjs_same_graphs"] == {"skipped": "--no-tfjs"}


def test_bench_picture_kind_counts_scenes_and_photos_by_kind(tmp_path: Path) -> None:
    out = tmp_path / "picture_kind.json"
    run_script("bench_picture_kind.py", "--scenes", 4, "--photos", 2, "--out", out)
    report = read_json(out)
    assert {kind: counts["count"] for kind, counts in report["scenes"].items()} == {"png": 4, "jpeg_q75": 4}
    assert len(report["photos"]) == 2 and report["photos_called_drawings"] == 0


def test_bench_backbone_head_trains_both_heads_and_scores_held_out_concepts(tmp_path: Path) -> None:
    out = tmp_path / "backbone_head.json"
    run_script("bench_backbone_head.py", "--concepts", 40, "--train", 1, "--test", 1, "--epochs", 1, "--out", out)
    report = read_json(out)
    assert report["concepts"] == 40 and 0 < report["held_out_concepts"] < 40
    assert set(report["heads"]) == {"pooled_mlp", "attention"}
    for head in report["heads"].values():
        for measure in ("seen_concepts_all_names", "zero_shot_all_names", "zero_shot_among_held_out"):
            assert 0.0 <= head[measure]["top1"] <= head[measure]["top5"] <= 1.0


def test_bench_tower_measures_the_tower_beside_the_shipped_encoder(tmp_path: Path) -> None:
    from agent.vision.tower import TowerConfig, TowerHead, save_tower

    save_tower(TowerHead(TowerConfig(side=64, width=32, heads=2)), tmp_path / "tower", {"text_model": "minilm"})
    out = tmp_path / "tower_eval.json"
    run_script("bench_tower.py", "--tower", tmp_path / "tower", "--scenes", 4, "--concepts", 4, "--out", out)
    report = read_json(out)
    for side in ("tower", "shipped_vit"):
        classification = report[side]["zero_shot"]
        assert classification["images"] == 4 and classification["classes"] > 1000
        assert classification["tower_held_out"]["images"] + classification["others"]["images"] == 4
        assert_share(report[side]["retrieval"]["test"]["image_to_text"]["R@1"])


def test_trace_paths_follows_both_attachments_to_the_model(tmp_path: Path) -> None:
    out = tmp_path / "paths.json"
    run_script("trace_paths.py", "--out", out)
    report = read_json(out)
    assert report["image"]["sequence"][-1] == "agent/vision/scene_reader.py:read"  # the drawing becomes words there
    assert report["audio"]["sequence"][-1].endswith(":transcribe_block")
    for path in ("image", "audio"):
        assert report[path]["sequence"][0].startswith("agent/cli/")
        assert not any(call.startswith("agent/train/") for call in report[path]["sequence"])  # runtime only


def test_bench_people_counts_people_with_the_shipped_rule_and_the_control(tmp_path: Path) -> None:
    # The held-out photos need the package registries once; here one labelled photo that is already in the cache
    # (scikit-image's astronaut, one person) stands in for them, so everything but the download runs.
    import hashlib
    import shutil

    import skimage

    photo = Path(skimage.__file__).parent / "data" / "astronaut.png"
    shutil.copyfile(photo, tmp_path / "astronaut.png")
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"id": "astronaut", "source": "pypi", "package": "scikit-image", "path": "data/astronaut.png",
                                  "sha256": hashlib.sha256(photo.read_bytes()).hexdigest(), "people": 1}) + "\n")
    out = tmp_path / "people.json"
    run_script("bench_people.py", "--cache", tmp_path, "--labels", labels, "--out", out)
    report = read_json(out)
    assert report["shipped"]["with_people"] == {"photos": 1, "right": 1}
    assert report["rows"][0]["control_count"] == 1


def test_bench_scene_reader_measures_issue_28s_goals_beside_their_controls(tmp_path: Path) -> None:
    out = tmp_path / "scene_reader.json"
    run_script("bench_scene_reader.py", "--scenes", 4, "--single", 2, "--vqa-scenes", 1, "--retrieval", 8, "--memory", 4,
               "--out", out)
    report = read_json(out)
    assert report["parts"]["scenes"] == 4 and report["single_object_chat"]["scenes"] == 2
    for share in (report["parts"]["grounding_iou50"]["share"], report["parts"]["grounding_control_random_thing"]["share"],
                  report["single_object_chat"]["named"], report["memory"]["found_first"]):
        assert_share(share)
    assert set(report["vqa"]["per_kind"]) == set(report["vqa_blind_control"]["per_kind"])
    assert set(report["retrieval"]) == {"chance_r1", "reader", "tower_vectors", "shipped_vit"}
    assert report["readme_example"]["named_count"] >= 4  # the README's own picture: a real check, not a smoke one
