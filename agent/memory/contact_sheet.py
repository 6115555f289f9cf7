"""A contact sheet: image hits of a search side by side in one PNG, each labelled with its rank, score and id."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from agent.memory.records import Hit


def contact_sheet(hits: list[tuple[Hit, Image.Image]], path: str | Path, cell: int = 160, columns: int = 4) -> Path:
    label_height = 28
    rows = max(1, -(-len(hits) // columns))
    sheet = Image.new("RGB", (columns * cell, rows * (cell + label_height)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for n, (hit, image) in enumerate(hits):
        x, y = (n % columns) * cell, (n // columns) * (cell + label_height)
        thumbnail = image.copy()
        thumbnail.thumbnail((cell - 8, cell - 8))
        sheet.paste(thumbnail, (x + (cell - thumbnail.width) // 2, y + 4 + (cell - 8 - thumbnail.height) // 2))
        draw.text((x + 4, y + cell), f"#{n + 1} {hit.score:.3f}", fill="black", font=font)
        draw.text((x + 4, y + cell + 13), hit.item.id, fill="gray", font=font)
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target, format="PNG")
    return target
