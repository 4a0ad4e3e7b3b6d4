"""Smoke test of the many-to-one page in headless chromium: example tweets are classified, and a tweet's markup
stays text on the real page."""

import pytest

from tests.browser import assert_page_healthy, wait_until_idle

pytestmark = pytest.mark.browser


def test_examples_are_classified_and_markup_stays_text(app_url, page):
    page.goto(f"{app_url}/many_to_one")
    wait_until_idle(page, expect="Fill in the example tweets")
    page.get_by_role("button", name="Fill in the example tweets").click()
    wait_until_idle(page, expect="What the model attended to")
    assert_page_healthy(page)
    body = page.inner_text("body")
    assert "German bakeries" in body and "the model and VADER agree on" in body

    box = page.get_by_label("One tweet per line")
    box.fill("<b>bold?</b> <img src=x onerror=alert(1)> thanks for the great flight")
    page.get_by_role("button", name="Classify").click()
    wait_until_idle(page, expect=page.get_by_text("<b>bold?</b>", exact=False).first)
    assert page.locator("b", has_text="bold?").count() == 0  # shown as text, never as a bold element
    assert page.locator("img[src='x']").count() == 0
