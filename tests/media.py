"""Uploads a person might make, good and bad, generated in the real file formats."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "dashboard" / "assets" / "fashion_mnist_test_examples.npz"


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def garment_photo(index: int = 0, size: int = 300) -> tuple[bytes, int]:
    """A test-set garment drawn dark on white paper, enlarged and off-centre, as JPEG; and its label."""
    with np.load(EXAMPLES) as examples:
        glyph, label = examples["images"][index], int(examples["labels"][index])
    garment = Image.fromarray(255 - glyph).resize((size // 2, size // 2), Image.Resampling.BICUBIC)
    paper = Image.new("L", (size, size + 40), 255)
    paper.paste(garment, (size // 3, size // 4))
    return encode(paper.convert("RGB"), "JPEG", quality=92), label


def truncated_jpeg() -> bytes:
    data, _ = garment_photo()
    return data[: len(data) // 3]


def huge_png_header(width: int = 10_000, height: int = 5_000) -> bytes:
    """A real 50-megapixel PNG (1-bit, so it is small on disk); decoding it would allocate ~150 MB as RGB."""
    return encode(Image.new("1", (width, height), 1), "PNG")


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (40, 40), (i * 80, 0, 0)) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def transparent_png() -> bytes:
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (10, 10, 30, 30))
    return encode(image, "PNG")


def one_pixel_png() -> bytes:
    return encode(Image.new("RGB", (1, 1), "white"), "PNG")


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (60, 60), (0, 120, 120, 0)), "JPEG")


NOT_AN_IMAGE = b"name,price\nshirt,10\n"
