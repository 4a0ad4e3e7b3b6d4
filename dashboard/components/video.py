"""Video in and out of a page: an uploader that explains every bad file, and H.264 mp4 that browsers play."""
from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import streamlit as st

from dashboard.components.user_text import code

VIDEO_TYPES = ["mp4", "webm", "avi", "mov", "mkv", "gif"]


def upload_limit_mb() -> int:
    """server.maxUploadSize from .streamlit/config.toml: the one size limit for videos, which the uploader refuses
    above and says in its box (images and text files have smaller limits of their own)."""
    return int(st.get_option("server.maxUploadSize"))


@dataclass(frozen=True)
class UploadedVideo:
    """An uploaded video, held in memory as Streamlit holds every upload; it touches the disk only inside
    ``on_disk``."""

    name: str  # as the user named it: show it with user_text.code
    data: bytes = field(repr=False)
    digest: str  # SHA-256 of the content: the same clip uploaded again is known for the same

    @contextlib.contextmanager
    def on_disk(self) -> Iterator[Path]:
        """The video as a file for FFmpeg, in a folder of its own that is deleted when the block ends, however it
        ends: no upload is left behind, and instances sharing a machine share no folder."""
        with tempfile.TemporaryDirectory(prefix="rnnlab-video-") as folder:
            path = Path(folder) / f"upload{Path(self.name).suffix.lower()}"  # the suffix helps FFmpeg's probe
            path.write_bytes(self.data)
            yield path


def video_upload(label: str, key: str) -> UploadedVideo | None:
    """A file uploader for one video; None until a non-empty file is uploaded."""
    limit = upload_limit_mb()
    uploaded = st.file_uploader(label, type=VIDEO_TYPES, key=key, max_upload_size=limit,
                                help=f"{', '.join(VIDEO_TYPES)}; up to {limit} MB.")
    if uploaded is None:
        return None
    if uploaded.size == 0:
        st.error(f"**{code(uploaded.name)}**: the file is empty.")
        return None
    data = uploaded.getvalue()
    return UploadedVideo(uploaded.name, data, hashlib.sha256(data).hexdigest())


def encode_h264(frames: np.ndarray, fps: float, crf: int = 26) -> bytes:
    """RGB frames (T, H, W, 3) uint8 -> an H.264 mp4 (yuv420p, moov atom first) that plays in any browser."""
    import av

    frames = np.asarray(frames)
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # yuv420p needs even sides
    # A real file, because moving the index to the front (so playback starts before the download ends) rewrites it.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=round(fps) if fps else 25,
                                          options={"crf": str(crf), "preset": "veryfast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for frame in frames:
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
                container.mux(stream.encode(picture))
            container.mux(stream.encode())
        return path.read_bytes()


def hex_to_bgr(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[4:6], 16), int(value[2:4], 16), int(value[0:2], 16)


def caption_frames(frames: np.ndarray, captions: list[str], colours: list[str]) -> np.ndarray:
    """Each RGB frame with a coloured band at the top carrying its caption (a label and its confidence)."""
    out = np.array(frames, copy=True)
    height, width = out.shape[1:3]
    band = max(14, height // 9)
    scale = band / 30
    for frame, caption, colour in zip(out, captions, colours):
        red, green, blue = hex_to_bgr(colour)[::-1]
        frame[:band] = (0.35 * frame[:band] + 0.65 * np.array([red, green, blue])).astype(np.uint8)
        cv2.putText(frame, caption, (4, band - max(3, band // 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, round(scale * 2)), cv2.LINE_AA)
    return out
