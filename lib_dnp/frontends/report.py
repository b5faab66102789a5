"""What the CLI writes: each image, a labelled side-by-side sheet (plain | DNS | DNP, one row per seed) and
`record.json` with everything needed to reproduce and judge the run."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from lib_dnp.frontends.diffusers_frontend import DnpGeneration

MIN_TILE = 256  # small images (the demo's 64²) are enlarged on the sheet, pixel for pixel
PAD = 6
TEXT = (20, 20, 20)
BACKGROUND = (255, 255, 255)
MISSING = (200, 200, 200)


def image_files(generation: DnpGeneration) -> list[dict[str, str]]:
    """File names of each seed's images: {"plain": ..., "dns": ..., "dnp": ...} for those that exist."""
    files = []
    for i, seed in enumerate(generation.seeds):
        names = {}
        for kind, images in (("plain", generation.plain_images), ("dns", generation.dns_images), ("dnp", generation.dnp_images)):  # fmt: skip
            if i < len(images) and images[i] is not None:
                names[kind] = f"seed{seed}-{kind}.png"
        files.append(names)
    return files


def _wrap(draw: Any, font: Any, text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and draw.textlength(candidate, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def sheet(generation: DnpGeneration) -> Image.Image:
    """plain | DNS | DNP side by side, labelled, with each seed's caption, negative and error under its row."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    columns = [
        ("plain", generation.plain_images),
        (f"DNS (s={generation.dns_scale:g}, {generation.dns_steps} steps)", generation.dns_images),
        ("DNP", generation.dnp_images),
    ]
    columns = [(label, images) for label, images in columns if images]
    sample = next(image for _, images in columns for image in images if image is not None)
    scale = max(1, -(-MIN_TILE // max(sample.width, 1)))
    tile_w, tile_h = sample.width * scale, sample.height * scale
    width = len(columns) * (tile_w + PAD) + PAD
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = measure.textbbox((0, 0), "Ag", font=font)[3] + 4

    rows = []
    for i, seed in enumerate(generation.seeds):
        notes = [f"seed {seed}   prompt: {generation.prompts[i]}"]
        if generation.captions and generation.captions[i] is not None:
            notes.append(f"caption: {generation.captions[i]}")
        if generation.negatives:
            notes.append(f"DNP negative: {generation.negatives[i] or '(none)'}")
        if generation.errors and generation.errors[i]:
            notes.append(f"error: {generation.errors[i]}")
        lines = [line for note in notes for line in _wrap(measure, font, note, width - 2 * PAD)]
        rows.append(lines)
    height = PAD + sum(line_h + tile_h + PAD + len(lines) * line_h + PAD for lines in rows)

    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    y = PAD
    for i, lines in enumerate(rows):
        for c, (label, images) in enumerate(columns):
            x = PAD + c * (tile_w + PAD)
            draw.text((x, y), label, fill=TEXT, font=font)
            image = images[i] if i < len(images) else None
            if image is None:
                draw.rectangle([x, y + line_h, x + tile_w - 1, y + line_h + tile_h - 1], fill=MISSING)
                draw.text((x + PAD, y + line_h + PAD), "not made", fill=TEXT, font=font)
            else:
                tile = image.convert("RGB").resize((tile_w, tile_h), Image.NEAREST)
                canvas.paste(tile, (x, y + line_h))
        y += line_h + tile_h + PAD
        for line in lines:
            draw.text((PAD, y), line, fill=TEXT, font=font)
            y += line_h
        y += PAD
    return canvas


def write_outputs(out_dir: str, generation: DnpGeneration, record: dict[str, Any]) -> dict[str, str]:
    """Write each image, `comparison.png` and `record.json` (record plus one entry per image) into `out_dir`.

    Returns {"comparison": path, "record": path}.
    """
    os.makedirs(out_dir, exist_ok=True)
    files = image_files(generation)
    kinds = {"plain": generation.plain_images, "dns": generation.dns_images, "dnp": generation.dnp_images}
    for i, names in enumerate(files):
        for kind, name in names.items():
            kinds[kind][i].save(os.path.join(out_dir, name))  # type: ignore[union-attr]
    sheet_path = os.path.join(out_dir, "comparison.png")
    sheet(generation).save(sheet_path)

    images = []
    for i, seed in enumerate(generation.seeds):
        images.append({
            "seed": seed,
            "prompt": generation.prompts[i],
            "caption": generation.captions[i] if generation.captions else None,
            "negative": generation.negatives[i] if generation.negatives else generation.user_negative,
            "error": generation.errors[i] if generation.errors else None,
            "files": files[i],
        })  # fmt: skip
    record = {**record, "images": images, "comparison": "comparison.png"}
    record_path = os.path.join(out_dir, "record.json")
    with open(record_path, "w", encoding="utf-8") as file:
        json.dump(record, file, indent=2, ensure_ascii=False)
        file.write("\n")
    return {"comparison": sheet_path, "record": record_path}
