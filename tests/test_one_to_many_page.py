"""AppTest of the one-to-many page against the shipped captioners; any exception fails."""

import pytest

from models import store
from tests import media
from tests.conftest import assert_no_exception, open_page, open_tab, page_texts, text_tables

PAGE = "views/one_to_many.py"


@pytest.fixture
def page(app):
    return open_page(app, PAGE)


def test_random_scene_every_model_and_attention(page):
    assert "### “" in page_texts(page) and ("Right" in page_texts(page) or "Not exactly right" in page_texts(page))
    assert [rows[0] for _, rows in text_tables(page)] == [["caption", "mean log-prob per word"]]
    assert not any("duration (s)" in df.value.columns for df in page.dataframe)  # the Compare tab is closed
    open_tab(page, "one_to_many", "Compare runs")
    assert any("duration (s)" in df.value.columns for df in page.dataframe)  # the shared run comparison
    page.button(key="one_to_many-another").click().run()
    assert_no_exception(page)
    picker = page.selectbox(key="one_to_many-model")
    assert len(picker.options) >= 2
    for option in picker.options:
        picker.set_value(option).run()
        assert_no_exception(page)
        if "attend" in option:
            page.select_slider(key="one_to_many-word").set_value(2).run()
            assert_no_exception(page)
            assert "This model has no attention" not in page_texts(page)
        else:
            assert "This model has no attention" in page_texts(page) and not page.select_slider
    for width in (1, 10):
        page.slider(key="one_to_many-beam").set_value(width).run()
        assert_no_exception(page)


def test_compose_a_scene_and_its_bad_layouts(page):
    page.radio(key="one_to_many-source").set_value("Compose a scene").run()
    assert_no_exception(page)
    assert "### “" in page_texts(page)
    page.selectbox(key="one_to_many-place-1").set_value("left").run()  # on top of garment 1
    assert_no_exception(page)
    assert any("Not a scene the captioner was trained on" in e.value for e in page.error)
    for slot in (0, 1):
        page.selectbox(key=f"one_to_many-garment-{slot}").set_value("—").run()
    assert_no_exception(page)
    assert "Pick at least one garment" in page_texts(page)


def test_uploads_good_odd_and_bad(page):
    page.radio(key="one_to_many-source").set_value("Upload an image").run()
    assert "Upload an image" in page_texts(page)
    photo, _ = media.garment_photo(index=5)
    page.file_uploader(key="one_to_many-upload").upload("garment.jpg", photo, "image/jpeg").run()
    assert_no_exception(page)
    assert "highest word entropy (greedy)" in page_texts(page) and not page.error
    for data in (media.animated_gif(), media.transparent_png(), media.cmyk_jpeg()):
        page.file_uploader(key="one_to_many-upload").upload("odd.png", data, "image/png").run()
        assert_no_exception(page)
        assert not page.error and "### “" in page_texts(page)
    for name, data in (
        ("notes.png", media.NOT_AN_IMAGE),
        ("cut.jpg", media.truncated_jpeg()),
        ("huge.png", media.huge_png_header()),
        ("tiny.png", media.one_pixel_png()),
    ):
        page.file_uploader(key="one_to_many-upload").upload(name, data, "image/png").run()
        assert_no_exception(page)
        assert any(name in e.value for e in page.error)


def test_the_out_of_domain_notice_follows_the_measured_threshold(page):
    """A real photo (scikit-image's cat) through the page: the notice shows exactly when the champion's mean
    word entropy on it is above the threshold chosen on data and shipped with the champion."""
    import io
    import json

    from PIL import Image

    from models.checkpoint import load_checkpoint
    from models.one_to_many import OOD_FILE, letterbox, to_tensor
    from training.data.sources import SKIMAGE_PHOTOS

    champion = next(r for r in store.shipped_bundles("one_to_many") if r.champion)
    threshold = json.loads((champion.bundle_dir / OOD_FILE).read_text())["threshold"]
    photo = SKIMAGE_PHOTOS.path("chelsea.png").read_bytes()
    model = load_checkpoint(champion.bundle_dir).model
    pixels = to_tensor(letterbox(Image.open(io.BytesIO(photo)), model.config.image_size)[None])
    entropy = model.caption(pixels)[0][0].entropy
    page.radio(key="one_to_many-source").set_value("Upload an image").run()
    page.file_uploader(key="one_to_many-upload").upload("cat.png", photo, "image/png").run()
    assert_no_exception(page)
    assert ("Out of domain?" in page_texts(page)) == (entropy > threshold)


def test_a_caption_cut_at_the_length_limit_says_so(page, monkeypatch):
    from models.one_to_many import Captioner

    assert "Cut at the length limit" not in page_texts(page)
    [(_, [_, *rows])] = text_tables(page)
    assert not any(caption.endswith("…") for caption, _ in rows)
    # A limit of 3 words cuts every scene's caption, by the decoders' own length check.
    greedy, beam_search = Captioner.greedy, Captioner.beam_search
    monkeypatch.setattr(Captioner, "greedy", lambda self, images, max_length=None: greedy(self, images, 3))
    monkeypatch.setattr(
        Captioner,
        "beam_search",
        lambda self, images, beam_width=3, max_length=None: beam_search(self, images, beam_width, 3),
    )
    for width in (1, 3):
        page.slider(key="one_to_many-beam").set_value(width).run()
        assert_no_exception(page)
        assert "Cut at the length limit" in page_texts(page)
        assert any(m.value.startswith("### “") and m.value.endswith(" …”") for m in page.markdown)
        [(_, [_, (caption, _), *_])] = text_tables(page)
        assert caption.endswith(" …")
