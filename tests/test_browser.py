"""Smoke test in headless chromium: every page of the running app opens, and an upload predicts."""

import pytest

from models import TOPOLOGIES
from tests import media
from tests.browser import assert_page_healthy, upload, wait_until_idle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", [""] + list(TOPOLOGIES))
def test_every_page_opens(app_url, page, path):
    page.goto(f"{app_url}/{path}")
    wait_until_idle(page, expect=page.locator("h1"))
    assert_page_healthy(page)
    heading = page.locator("h1").first.inner_text()
    assert heading.endswith("RNN Lab") if not path else TOPOLOGIES[path].title in heading


def test_one_to_one_upload_predicts(app_url, page, tmp_path):
    photo, _ = media.garment_photo(index=7)
    (tmp_path / "garment.jpg").write_bytes(photo)
    page.goto(f"{app_url}/one_to_one")
    wait_until_idle(page, expect="Upload a photo or drawing")
    upload(page, tmp_path / "garment.jpg", expect="What the model sees")
    assert_page_healthy(page)
    assert "inference" in page.inner_text("body")


def test_bad_upload_shows_a_message(app_url, page, tmp_path):
    (tmp_path / "broken.png").write_bytes(media.truncated_jpeg())
    page.goto(f"{app_url}/one_to_one")
    wait_until_idle(page, expect="Upload a photo or drawing")
    upload(page, tmp_path / "broken.png", expect="damaged or truncated")
    assert_page_healthy(page)


def test_file_names_are_shown_as_typed_and_the_image_limit_where_the_user_uploads(app_url, page, tmp_path):
    hostile = tmp_path / "x` [click me](https:example.com) <b>bold www.example.com.png"
    hostile.write_bytes(media.NOT_AN_IMAGE)
    page.goto(f"{app_url}/one_to_one")
    wait_until_idle(page, expect="Upload a photo or drawing")
    dropzone = page.locator('[data-testid="stFileUploaderDropzone"]').first.inner_text()
    assert "20MB" in dropzone and "200MB" not in dropzone  # the one image limit, in the box the user drops into
    upload(page, hostile, expect="not an image we can read")
    error = page.locator('[data-testid="stAlertContentError"]').first
    assert hostile.name in error.inner_text()
    assert error.locator("a, b").count() == 0  # no link (not even www.…), no HTML: the name is inline code
    assert error.locator("code").inner_text() == hostile.name
    assert_page_healthy(page)
