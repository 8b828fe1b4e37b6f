"""Draws the app's icons (public/icons/icon-192.png and icon-512.png) with Pillow.

Maskable: the mark stays inside the central 80 % safe zone, the background fills the square.
Run from mobile-web/ with the project's venv: ../.venv/bin/python tools/make_icons.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

THEME = (11, 92, 107)
PAPER = (255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "public" / "icons"


def icon(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), THEME)
    draw = ImageDraw.Draw(image)
    # A notebook: a white page with three ruled lines, inside the maskable safe zone.
    u = size / 20
    draw.rounded_rectangle((6 * u, 5 * u, 14 * u, 15 * u), radius=u, fill=PAPER)
    for row in (7.5, 10, 12.5):
        draw.line((7.5 * u, row * u, 12.5 * u, row * u), fill=THEME, width=max(2, round(u / 2)))
    return image


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        icon(size).save(OUT / f"icon-{size}.png", optimize=True)
