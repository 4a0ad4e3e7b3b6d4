"""Uploaded media, checked before it reaches a model: every way an upload can be wrong ends in a clear message."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field

import streamlit as st
from PIL import Image, ImageOps, UnidentifiedImageError

from dashboard.components.user_text import code, literal

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
MAX_IMAGE_MB = 20  # the one size limit for images: the uploader refuses bigger files and says so in its box
MAX_IMAGE_BYTES = MAX_IMAGE_MB * 1024 * 1024
MAX_IMAGE_PIXELS = 25_000_000  # refused from the header, before decoding allocates the pixels
MIN_IMAGE_SIDE = 8
# Decoded images are scaled down to this side: the models read a few dozen pixels a side and a page column shows
# fewer than this, while a 25-megapixel photo would hold 75 MB on every rerun and be sent to the browser whole.
MAX_DECODED_SIDE = 1600


class MediaRejected(ValueError):
    """An upload the app cannot use; the message is written for the person who uploaded it."""


@dataclass
class DecodedImage:
    image: Image.Image  # RGB
    notes: list[str] = field(default_factory=list)  # what was done to make it usable, said on the page


def too_large(pixels: int, size: str = "") -> MediaRejected:
    return MediaRejected(
        f"The image is too large: {size}{pixels / 1e6:.0f} megapixels, and the limit is "
        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (5000×5000 pixels, say). Please downscale it."
    )


def decode_image(data: bytes) -> DecodedImage:
    if not data:
        raise MediaRejected("The file is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise MediaRejected(f"The file is {len(data) / 2**20:.0f} MB; images up to {MAX_IMAGE_MB} MB are accepted.")
    notes = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise too_large(width * height, f"{width}×{height} pixels, ")
        if min(width, height) < MIN_IMAGE_SIDE:
            raise MediaRejected(
                f"The image is only {width}×{height} pixels; at least {MIN_IMAGE_SIDE}×"
                f"{MIN_IMAGE_SIDE} is needed to see anything."
            )
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            image.seek(0)
            notes.append(f"Animated image: the first of its {frames} frames is used.")
        full_size = image.size
        image.draft(image.mode, (MAX_DECODED_SIDE, MAX_DECODED_SIDE))  # a JPEG decodes at 1/2, 1/4, 1/8 directly
        image.load()  # decodes now, so truncated or corrupt data fails here and not inside a model
        image = ImageOps.exif_transpose(image)
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow refuses very large images (over ~89 megapixels) in its header check, before ours; its message
        # carries the pixel count.
        counted = re.search(r"\((\d+) pixels\)", str(error))
        raise too_large(int(counted.group(1)) if counted else MAX_IMAGE_PIXELS + 1) from None
    except UnidentifiedImageError:
        raise MediaRejected("This file is not an image we can read (PNG, JPEG, WebP, BMP or GIF).") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaRejected(f"The image is damaged or truncated and cannot be decoded ({literal(error)}).") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(background, image.convert("RGBA"))
        notes.append("Transparent areas were filled with white.")
    if image.mode == "CMYK":
        notes.append("CMYK colours were converted to RGB.")
    if image.mode.startswith("I;16") or image.mode == "I":
        image = image.point(lambda value: value / 256).convert("L")  # 16-bit greyscale -> 8-bit
    image = image.convert("RGB")
    if max(image.size) > MAX_DECODED_SIDE:
        image.thumbnail((MAX_DECODED_SIDE, MAX_DECODED_SIDE), Image.Resampling.LANCZOS)
    if max(full_size) > MAX_DECODED_SIDE:
        notes.append(
            f"Scaled down from {full_size[0]}×{full_size[1]} to {image.width}×{image.height} pixels "
            "(still more than the model reads)."
        )
    return DecodedImage(image, notes)


def image_upload(label: str, key: str) -> DecodedImage | None:
    """A file uploader for one image; a bad upload is explained on the page and yields None. The decoded image is
    kept in the session (the latest upload's only), so a rerun (a slider moved) does not decode it again."""
    uploaded = st.file_uploader(
        label,
        type=IMAGE_TYPES,
        key=key,
        max_upload_size=MAX_IMAGE_MB,
        help=f"PNG, JPEG, WebP, BMP or GIF (first frame), up to {MAX_IMAGE_MB} MB and "
        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels, in any colours.",
    )
    kept_key = f"{key}-decoded"
    if uploaded is None:
        st.session_state.pop(kept_key, None)
        return None
    file_id, decoded = st.session_state.get(kept_key, (None, None))
    if file_id != uploaded.file_id:
        st.session_state.pop(kept_key, None)
        try:
            decoded = decode_image(uploaded.getvalue())
        except MediaRejected as error:
            st.error(f"**{code(uploaded.name)}**: {error}")
            return None
        st.session_state[kept_key] = (uploaded.file_id, decoded)
    for note in decoded.notes:
        st.caption(note)
    return decoded
