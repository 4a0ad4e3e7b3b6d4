"""Every bad upload becomes a MediaRejected with a message for a person; good ones become RGB images."""

import pytest

from dashboard.components.media_input import MAX_IMAGE_PIXELS, MediaRejected, decode_image
from tests import media


def test_photo_decodes_to_rgb():
    data, _ = media.garment_photo()
    decoded = decode_image(data)
    assert decoded.image.mode == "RGB" and decoded.image.size == (300, 340) and decoded.notes == []


@pytest.mark.parametrize(
    "data, message",
    [
        (media.NOT_AN_IMAGE, "not an image"),
        (b"", "empty"),
        (media.truncated_jpeg(), "damaged or truncated"),
        (media.huge_png_header(), "megapixels"),
        (media.one_pixel_png(), "only 1×1"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(data, message):
    with pytest.raises(MediaRejected, match=message):
        decode_image(data)


def test_huge_image_is_refused_before_decoding(monkeypatch):
    from PIL import ImageFile

    def must_not_decode(self):
        raise AssertionError("decoded a huge image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(MediaRejected, match=f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels"):
        decode_image(media.huge_png_header())


@pytest.mark.parametrize("side", [12_000, 20_000])  # over Pillow's own bomb warning (89 Mpx) and its error (179 Mpx)
def test_a_valid_image_too_large_to_decode_says_so_and_states_the_limit(side):
    with pytest.raises(
        MediaRejected,
        match=rf"too large: {side**2 / 1e6:.0f} megapixels, and the limit is "
        rf"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels",
    ):
        decode_image(media.huge_png_header(side, side))


def test_animated_gif_uses_first_frame():
    decoded = decode_image(media.animated_gif())
    assert decoded.image.getpixel((5, 5)) == (0, 0, 0)
    assert "first of its 3 frames" in decoded.notes[0]


def test_alpha_is_composited_on_white():
    decoded = decode_image(media.transparent_png())
    assert decoded.image.getpixel((0, 0)) == (255, 255, 255)
    assert decoded.image.getpixel((20, 20)) == (200, 30, 30)
    assert any("Transparent" in note for note in decoded.notes)


def test_cmyk_is_converted():
    decoded = decode_image(media.cmyk_jpeg())
    assert decoded.image.mode == "RGB" and any("CMYK" in note for note in decoded.notes)
