"""The translation page in headless chromium: type text, press Translate, get translations and attention heatmaps,
no exception."""

import pytest

from tests.browser import assert_page_healthy, wait_until_idle

pytestmark = pytest.mark.browser


def test_typed_text_is_translated_with_heatmaps(app_url, page):
    page.goto(f"{app_url}/many_to_many")
    wait_until_idle(page, expect="sentence(s) translated")
    box = page.get_by_label("English text: one or more sentences")
    box.fill("<b>Where</b> is my book? The cat is sleeping.")
    page.get_by_role("button", name="Translate").click()
    wait_until_idle(page, expect="2 sentence(s) translated")
    assert_page_healthy(page)
    assert page.locator(".js-plotly-plot").count() >= 1  # the first sentence's attention heatmap
    assert "<b>Where</b> is my book?" in page.inner_text("body")  # user HTML is shown as text, not rendered
