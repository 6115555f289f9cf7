from __future__ import annotations

import numpy as np

from agent.train.scenes import (
    SceneConfig,
    generate_scene,
    generate_scenes,
    has_held_out_pair,
    is_held_out_pair,
    render_scene,
    scene_seed,
    single_object_scene,
)


def test_same_seed_same_scene_and_pixels(concepts) -> None:
    first = generate_scene(scene_seed("train", 7), concepts)
    second = generate_scene(scene_seed("train", 7), concepts)
    assert first == second
    assert np.array_equal(np.asarray(render_scene(first, concepts)), np.asarray(render_scene(second, concepts)))
    other = generate_scene(scene_seed("train", 8), concepts)
    assert other != first


def test_split_seed_streams_are_disjoint() -> None:
    train = {scene_seed("train", i) for i in range(2000)}
    test = {scene_seed("test", i) for i in range(2000)}
    assert not train & test


def test_held_out_pairs_never_in_train_always_in_test_combos(concepts) -> None:
    held = sum(is_held_out_pair(a, b) for a in range(60) for b in range(a + 1, 60))
    assert 0 < held < 0.12 * (60 * 59 / 2)  # about 5% of pairs
    for scene in generate_scenes("train", 0, 300, concepts):
        assert not has_held_out_pair([item.concept for item in scene.emoji])
    combos = generate_scenes("test-combos", 0, 100, concepts)
    multi = [scene for scene in combos if len({item.concept for item in scene.emoji}) > 1]
    assert multi and all(has_held_out_pair([item.concept for item in scene.emoji]) for scene in multi)


def test_items_fit_the_image_and_do_not_overlap(concepts) -> None:
    config = SceneConfig(image_size=128)
    for scene in generate_scenes("test", 0, 200, concepts, config):
        image = render_scene(scene, concepts)
        assert image.size == (128, 128) and image.mode == "RGB"
        boxes = [item.box for item in scene.items]
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_scenes_vary(concepts) -> None:
    scenes = generate_scenes("train", 0, 400, concepts)
    counts = {len(scene.emoji) for scene in scenes}
    assert counts >= {1, 2, 3, 4}
    assert any(scene.shapes for scene in scenes) and any(scene.text for scene in scenes)
    assert len({scene.background for scene in scenes}) > 300
    assert any(len({i.concept for i in s.emoji}) < len(s.emoji) for s in scenes)  # repeats, for counting


def test_single_object_scene_shows_that_concept(concepts) -> None:
    scene = single_object_scene(concepts[10], seed=3)
    assert [item.concept for item in scene.items] == [10]
    pixels = np.asarray(render_scene(scene, concepts)).astype(int)
    assert pixels.std() > 10  # something was drawn on the background
