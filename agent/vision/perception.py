"""Pictures seen for a core that cannot see them: each image of a conversation is looked at once, by the eyes that
fit it, and the report kept by image content (so a picture discussed over many turns is looked at once).

``perceive(image)`` gives a photo's PhotoReport (the photo detectors) or a drawing's SceneReport (the scene
reader, agent/vision/scene_reader.py, on an emoji scene or any things drawn on a plain background);
agent/vision/picture_kind.py tells them apart. A drawing gets None where the reader finds nothing drawn on it, or
its weights are not installed: a core's own eyes look at those. ``perceive_unseen(messages)`` gives each image of a
conversation its report once; ``answer(messages)`` answers a plain question about the latest image from its report.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

from PIL import Image

from agent.media import image_digest
from agent.messages import Message, media_in
from agent.vision.photo_report import PhotoReport
from agent.vision.scene_report import SceneReport

Report = PhotoReport | SceneReport
_reports: OrderedDict[str, Report | None] = OrderedDict()
_lock = threading.Lock()
KEEP = 64  # reports kept, newest last


def perceive(image: Image.Image, photos: bool = True, drawings: bool = True) -> Report | None:
    """What the photo detectors find in a photo, or the scene reader in a drawing; None for a kind not asked for,
    or a drawing the reader finds nothing in."""
    from agent.vision.picture_kind import is_photo

    key = f"{image_digest(image)}:{photos}:{drawings}"
    with _lock:
        if key in _reports:
            _reports.move_to_end(key)
            return _reports[key]
    if is_photo(image):
        report = _look_at_photo(image) if photos else None
    else:
        report = _read_drawing(image) if drawings else None
    with _lock:
        _reports[key] = report
        while len(_reports) > KEEP:
            _reports.popitem(last=False)
    return report


def perceive_unseen(messages: Sequence[Message], photos: bool = True, drawings: bool = True) -> None:
    """Give every image of ``messages`` not looked at yet its report from the eyes asked for (``photos``,
    ``drawings``); it stays on the block with ``looked`` set, so no image is looked at twice."""
    if not photos and not drawings:
        return
    for block in media_in(messages)[0]:
        if not block.looked:
            block.perception, block.looked = perceive(block.image, photos=photos, drawings=drawings), True


def _look_at_photo(image: Image.Image) -> PhotoReport:
    from agent.vision.photo_detector import shared_photo_detector

    return PhotoReport(shared_photo_detector().detect(image), *image.size)


def _read_drawing(image: Image.Image) -> SceneReport | None:
    """The scene reader's report, or None when it finds nothing drawn (a plain colour, an empty background: a
    core's own eyes may still say which colour) or its weights are not installed."""
    from agent.vision.scene_reader import has_scene_reader, shared_scene_reader

    if not has_scene_reader():
        return None
    report = shared_scene_reader().read(image)
    return report if report.found else None


def answer(messages: Sequence[Message], plain_only: bool = False) -> str | None:
    """The answer to the conversation's last request from its latest image's report, when it is a plain question
    about that image (agent/vision/photo_answers.py, agent/vision/scene_answers.py); None: the core answers."""
    images = media_in(messages)[0]
    report = images[-1].perception if images else None
    if isinstance(report, PhotoReport):
        from agent.vision.photo_answers import answer_in_conversation

        return answer_in_conversation(messages, plain_only)
    if isinstance(report, SceneReport):
        from agent.vision.scene_answers import answer_in_conversation as answer_about_drawing

        return answer_about_drawing(messages, report, plain_only)
    return None
