"""Draw the DRAFT / 草稿 watermarks of the PDF reports as PNG images (reports/watermark/*.png).

The watermark is a picture, not text, so it never enters the PDF's text layer (copying or
extracting the text of a draft gives no stray "D R A F T 草 稿" letters). Run it again only to
change the look: `.venv/bin/python scripts/make_watermarks.py` (needs Pillow and Noto Sans CJK).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SC_INDEX = 2  # Noto Sans CJK SC in the collection (fc-list -f '%{index} %{family}')
OUT = Path(__file__).resolve().parent.parent / "reports" / "watermark"
WORDS = {"zh": "草稿", "en": "DRAFT", "both": "DRAFT 草稿"}
COLOUR = (200, 16, 46, 34)  # #c8102e at about 13 % opacity


def draw(word: str) -> Image.Image:
    font = ImageFont.truetype(FONT, 220, index=SC_INDEX)
    left, top, right, bottom = font.getbbox(word)
    pad = 40
    image = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((pad - left, pad - top), word, font=font, fill=COLOUR)
    image = image.rotate(30, expand=True, resample=Image.Resampling.BICUBIC)
    image.thumbnail((900, 900), Image.Resampling.LANCZOS)
    return image.quantize(colors=16, method=Image.Quantize.FASTOCTREE)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for language, word in WORDS.items():
        draw(word).save(OUT / f"draft-{language}.png", optimize=True)


if __name__ == "__main__":
    main()
