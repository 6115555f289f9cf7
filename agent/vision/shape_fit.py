"""Which regular shape an outline is, if any: circle, oval, square, rectangle, triangle or star.

A flat-coloured thing is only called a shape when its outline fits one well; a flat grey gear, a link or an X
fits none and stays a picture for the image tower to name. Each test compares the outline with the ideal one:
- circle: convex, and it fills its enclosing circle (the ideal fills all of it); an oval is a long one that fills
  the ellipse of its spread;
- square or rectangle: convex, and it fills its smallest rotated bounding rectangle (a square fills 0.64 of its
  enclosing circle);
- triangle: convex, and it fills about 0.41 of its enclosing circle (an equilateral triangle's share) and half its
  rectangle;
- star: far from convex, with five tips.
"Convex" allows for the steps of a small shape's pixels (a 15-pixel square fills 0.85 of its hull).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import ConvexHull, QhullError


def fit_shape(mask: np.ndarray) -> str | None:
    """The shape a boolean mask draws, or None when it is no regular shape."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 20:
        return None
    points = np.stack([xs, ys], 1).astype(np.float64) + 0.5
    try:
        hull = ConvexHull(np.concatenate([points + offset for offset in ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5))]))
    except (QhullError, ValueError):
        return None
    area = float(len(points))
    solidity = area / hull.volume  # in 2-D, "volume" is the area; small shapes lose some to their pixel steps
    centre = points.mean(0)
    radius = float(np.sqrt(((points - centre) ** 2).sum(1).max())) + 0.5
    circle_fill = area / (np.pi * radius * radius)
    if solidity >= 0.85 and circle_fill >= 0.85:
        return "circle"
    if solidity >= 0.78:
        rectangle_fill, aspect = _smallest_rectangle(hull.points[hull.vertices], area)
        if aspect > 1.2 and rectangle_fill < 0.86 and _ellipse_fill(points, area) >= 0.93:
            return "oval"  # an ellipse fills pi/4 of its rectangle, and all of the ellipse its spread implies
        if rectangle_fill >= 0.78 and (aspect > 1.25 or 0.5 <= circle_fill <= 0.78):
            return "square" if aspect <= 1.25 else "rectangle"
        if 0.3 <= circle_fill <= 0.5 and rectangle_fill <= 0.62:  # an ideal triangle fills half its rectangle
            return "triangle"
        return None
    if 0.4 <= solidity <= 0.75 and _tips(points, centre) == 5:
        return "star"
    return None


def _ellipse_fill(points: np.ndarray, area: float) -> float:
    """The share of the ellipse with the points' spread (semi-axes twice the standard deviations) they fill."""
    spread = np.linalg.eigvalsh(np.cov(points.T))
    return area / (np.pi * 4 * float(np.sqrt(max(spread[0], 1e-6) * max(spread[1], 1e-6))))


def _smallest_rectangle(corners: np.ndarray, area: float) -> tuple[float, float]:
    """(the share of the smallest rotated rectangle around the corners that the shape fills, its aspect)."""
    best = (np.inf, 1.0)
    for degrees in range(0, 90, 2):
        angle = np.radians(degrees)
        turned = corners @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        width, height = turned.max(0) - turned.min(0)
        if width * height < best[0]:
            best = (width * height, max(width, height) / max(min(width, height), 1e-6))
    return area / best[0], best[1]


def _tips(points: np.ndarray, centre: np.ndarray, bins: int = 72) -> int:
    """How many tips stick out: peaks of the farthest reach by angle (smoothed, around the circle), each at
    least half-way out between the shape's nearest and farthest reach."""
    offsets = points - centre
    angles = ((np.degrees(np.arctan2(offsets[:, 1], offsets[:, 0])) + 360) % 360 * bins / 360).astype(int) % bins
    reach = np.zeros(bins)
    np.maximum.at(reach, angles, np.sqrt((offsets ** 2).sum(1)))
    reach = gaussian_filter1d(reach, 1.5, mode="wrap")
    low, high = reach.min(), reach.max()
    peaks = [i for i in range(bins) if reach[i] >= reach[i - 1] and reach[i] > reach[(i + 1) % bins]
             and reach[i] >= low + 0.5 * (high - low)]
    return len(peaks)
