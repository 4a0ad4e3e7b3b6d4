"""tests/browser.py itself: wait_until_idle must not call a page idle while its run is still going."""

import pytest

from tests.browser import assert_page_healthy, served_test_app, wait_until_idle

pytestmark = pytest.mark.browser


slow_app_url = served_test_app("slow_run.py")


def test_waits_for_the_end_of_a_run_the_running_icon_does_not_show(slow_app_url, page):
    page.goto(slow_app_url)
    wait_until_idle(page, expect=page.get_by_role("button", name="Run slowly"))
    page.get_by_role("button", name="Run slowly").click()
    wait_until_idle(page)
    # No waiting here: wait_until_idle has returned, so the run must be over.
    assert page.get_by_text("Finished the slow run").count() == 1
    assert page.locator('[data-stale="true"]').count() == 0
    assert_page_healthy(page)


def test_waits_for_the_expected_element(slow_app_url, page):
    page.goto(slow_app_url)
    wait_until_idle(page, expect="Run slowly")
    page.get_by_role("button", name="Run slowly").click()
    wait_until_idle(page, expect="Finished the slow run", timeout_s=30)
    assert page.get_by_text("Working…").count() == 1


def test_gives_up_when_the_expected_element_never_comes(slow_app_url, page):
    page.goto(slow_app_url)
    with pytest.raises(TimeoutError, match="had not finished"):
        wait_until_idle(page, expect="A text this app never writes", timeout_s=3)
