"""The shared text box in headless chromium: typing and leaving the box changes nothing; the button (or
Ctrl+Enter) applies the text."""

import pytest

from tests.browser import assert_page_healthy, served_test_app, wait_until_idle

pytestmark = pytest.mark.browser


entry_url = served_test_app("text_entry.py")


def test_text_applies_on_the_button_or_ctrl_enter_not_on_blur(entry_url, page):
    page.goto(entry_url)
    wait_until_idle(page, expect="classified: ''")
    box = page.get_by_label("Tweets")
    box.fill("love the crew")
    page.get_by_text("classified:").click()  # focus leaves the box
    wait_until_idle(page, expect="classified: ''")
    assert page.get_by_text("classified: 'love the crew'").count() == 0
    page.get_by_role("button", name="Classify").click()
    wait_until_idle(page, expect="classified: 'love the crew'")
    box.fill("worst flight ever")
    box.press("Control+Enter")
    wait_until_idle(page, expect="classified: 'worst flight ever'")
    assert_page_healthy(page)
