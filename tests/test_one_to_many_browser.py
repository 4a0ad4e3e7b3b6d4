"""The one-to-many page in headless chromium: a random scene is captioned, a composed one too, an upload works."""

import pytest

from tests import media
from tests.browser import assert_page_healthy, upload, wait_until_idle

pytestmark = pytest.mark.browser


def test_caption_a_scene_compose_one_and_upload(app_url, page, tmp_path):
    page.goto(f"{app_url}/one_to_many")
    wait_until_idle(page, expect="What the model sees")
    assert_page_healthy(page)
    assert "highest word entropy (greedy)" in page.inner_text("body")
    page.get_by_text("Compose a scene").click()
    wait_until_idle(page, expect="Garment 1")
    assert_page_healthy(page)
    assert "“" in page.inner_text("body")
    photo, _ = media.garment_photo(index=2)
    (tmp_path / "garment.jpg").write_bytes(photo)
    page.get_by_text("Upload an image").first.click()
    wait_until_idle(page, expect="Any image")
    upload(page, tmp_path / "garment.jpg", expect="Your upload")
    assert_page_healthy(page)
