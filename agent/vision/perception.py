"""Photos seen for a core that cannot see them: each photo of a conversation is looked at once by the photo
detector, and its report kept by image content (so a photo discussed over many turns is looked at once).

``perceive(image)`` gives the PhotoReport of a photo, or None for a drawing (an emoji scene: Rosetta's own image
encoder looks at those; agent/vision/picture_kind.py tells them apart).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from PIL import Image

from agent.media import image_digest
from agent.vision.photo_report import PhotoReport

_reports: OrderedDict[str, PhotoReport | None] = OrderedDict()
_lock = threading.Lock()
KEEP = 64  # reports kept, newest last


def perceive(image: Image.Image) -> PhotoReport | None:
    """What the photo detector finds in ``image``, or None when it is a drawing."""
    from agent.vision.photo_detector import shared_photo_detector
    from agent.vision.picture_kind import is_photo

    key = image_digest(image)
    with _lock:
        if key in _reports:
            _reports.move_to_end(key)
            return _reports[key]
    report = PhotoReport(shared_photo_detector().detect(image), *image.size) if is_photo(image) else None
    with _lock:
        _reports[key] = report
        while len(_reports) > KEEP:
            _reports.popitem(last=False)
    return report
