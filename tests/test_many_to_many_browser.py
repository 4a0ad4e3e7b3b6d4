"""The translation page in headless chromium: type text, get translations and attention heatmaps, no exception."""
import pytest

from tests.browser import browser_page, serve_app, wait_until_idle

pytestmark = pytest.mark.browser


def test_typed_text_is_translated_with_heatmaps(shipped_store_uri):
    with serve_app(shipped_store_uri) as url, browser_page() as page:
        page.goto(f"{url}/many_to_many")
        wait_until_idle(page)
        box = page.get_by_label("English text: one or more sentences")
        box.fill("<b>Where</b> is my book? The cat is sleeping.")
        box.press("Control+Enter")
        page.get_by_text("2 sentence(s) translated").wait_for(timeout=60_000)
        wait_until_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:2000]
        assert page.locator(".js-plotly-plot").count() >= 1  # the first sentence's attention heatmap
        assert "<b>Where</b> is my book?" in page.inner_text("body")  # user HTML is shown as text, not rendered
