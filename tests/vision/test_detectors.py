"""CenterNet on real photos (agent/vision/detectors.py): what is in a real portrait is found where it is, a blank
or noisy picture comes back empty, and the letterbox and the suppression are right on their own."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.vision.detectors import CenterNetDetector, letterbox, suppress
from tests.vision.reference_inputs import photo


@pytest.fixture(scope="module")
def detector() -> CenterNetDetector:
    return CenterNetDetector.load()


def test_a_portrait_holds_a_person_and_a_tie_where_they_are(detector: CenterNetDetector):
    image = photo()  # Grace Hopper in uniform, 512x600
    found = detector.detect(image)
    assert {d.label for d in found} == {"person", "tie"}, found
    person = next(d for d in found if d.label == "person")
    tie = next(d for d in found if d.label == "tie")
    x0, y0, x1, y1 = person.box
    assert (x1 - x0) * (y1 - y0) > 0.6 * image.width * image.height  # the portrait fills the frame
    assert x0 < tie.box[0] < tie.box[2] < x1 and tie.box[1] > image.height / 2  # the tie: inside, in the lower half


@pytest.mark.parametrize("picture", [Image.new("RGB", (640, 480), (120, 130, 140)),
                                     Image.fromarray((np.random.default_rng(0).random((300, 400, 3)) * 255).astype("uint8"))])
def test_nothing_is_made_up_on_a_blank_or_noisy_picture(detector: CenterNetDetector, picture: Image.Image):
    assert detector.detect(picture) == []


def test_the_letterbox_scales_to_fit_at_the_top_left():
    pixels, scale = letterbox(Image.new("RGB", (1024, 512), (255, 0, 0)), 512)
    assert pixels.shape == (1, 512, 512, 3) and scale == 0.5
    assert pixels[0, 0, 0].tolist() == [255.0, 0.0, 0.0] and pixels[0, 300, 0].tolist() == [0.0, 0.0, 0.0]


def test_suppression_is_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([0, 0, 1, 0])
    assert suppress(boxes, scores, classes, iou=0.5) == [0, 2, 3]  # the second person box goes; the other class stays


def test_nanodet_finds_the_portrait_and_its_tie_where_centernet_does():
    from agent.vision.detectors import NanoDetDetector

    image = photo()
    found = NanoDetDetector.load().detect(image)
    best = {label: max(d.score for d in found if d.label == label) for label in {d.label for d in found}}
    assert best.get("person", 0) > 0.7 and best.get("tie", 0) > 0.35, found  # NanoDet's top two, as upstream decodes
    tie = max((d for d in found if d.label == "tie"), key=lambda d: d.score)
    assert tie.box[1] > image.height / 2 and image.width * 0.3 < (tie.box[0] + tie.box[2]) / 2 < image.width * 0.7


def test_nanodet_finds_nothing_on_a_blank_picture():
    from agent.vision.detectors import NanoDetDetector

    assert NanoDetDetector.load().detect(Image.new("RGB", (640, 480), (120, 130, 140))) == []


def test_the_two_detectors_must_agree():
    from agent.vision.detectors import Detection
    from agent.vision.photo_detector import AgreementConfig, agreed

    config = AgreementConfig()
    centernet = [Detection("person", 0.6, (0, 0, 100, 200)), Detection("kite", 0.4, (300, 0, 320, 20)),
                 Detection("cup", 0.5, (200, 200, 260, 260))]
    nanodet = [Detection("person", 0.8, (5, 5, 100, 190)), Detection("kite", 0.3, (300, 0, 320, 20)),
               Detection("cup", 0.6, (0, 300, 50, 350))]
    kept = agreed(centernet, nanodet, config)
    # the person is confirmed (mean 0.7); the kite agrees but scores 0.35 on average; the cups are elsewhere
    assert [(d.label, round(d.score, 2)) for d in kept] == [("person", 0.7)]


def test_more_of_an_agreed_kind_needs_only_centernet():
    from agent.vision.detectors import Detection
    from agent.vision.photo_detector import AgreementConfig, agreed

    config = AgreementConfig()
    centernet = [Detection("person", 0.6, (0, 0, 100, 200)),
                 Detection("person", 0.45, (300, 0, 360, 150)),   # a second person NanoDet missed
                 Detection("person", 0.2, (400, 0, 460, 150)),    # below CenterNet's own threshold
                 Detection("person", 0.5, (10, 0, 110, 200)),     # the first person again (overlaps it)
                 Detection("person", 0.55, (20, 10, 60, 60)),     # a face inside the first person's box
                 Detection("dog", 0.7, (200, 200, 300, 300))]     # a kind NanoDet never confirms
    nanodet = [Detection("person", 0.8, (5, 5, 100, 190))]
    kept = agreed(centernet, nanodet, config)
    assert [(d.label, round(d.score, 2), d.box[0]) for d in kept] == [("person", 0.7, 0), ("person", 0.45, 300)]
    # a user's stricter threshold applies to the further ones too
    assert [d.box[0] for d in agreed(centernet, nanodet, config, threshold=0.5)] == [0]
    # further things need only CenterNet's own threshold (0.25), not the pair's mean threshold
    centernet[1] = Detection("person", 0.3, (300, 0, 360, 150))
    assert len(agreed(centernet, nanodet, config)) == 2


def test_the_photo_detector_on_the_portrait_reports_the_person():
    from agent.vision.photo_detector import shared_photo_detector

    found = shared_photo_detector().detect(photo())
    assert [d.label for d in found][:1] == ["person"], found
