"""Video in and out of a page: an uploader that explains every bad file, each frame's time on screen and what to say
of a decoded upload, and H.264 mp4 that browsers play."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import streamlit as st

from dashboard.components.user_text import code
from models.video import VideoInfo

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
    uploaded = st.file_uploader(
        label, type=VIDEO_TYPES, key=key, max_upload_size=limit, help=f"{', '.join(VIDEO_TYPES)}; up to {limit} MB."
    )
    if uploaded is None:
        return None
    if uploaded.size == 0:
        st.error(f"**{code(uploaded.name)}**: the file is empty.")
        return None
    data = uploaded.getvalue()
    return UploadedVideo(uploaded.name, data, hashlib.sha256(data).hexdigest())


def encode_h264(frames: Iterable[np.ndarray], fps: float, crf: int = 26) -> bytes:
    """RGB frames (each H×W×3 uint8: an array (T, H, W, 3) or any iterable, so that a long video is never held
    twice) -> an H.264 mp4 (yuv420p, moov atom first) that plays in any browser."""
    import av

    # A real file, because moving the index to the front (so playback starts before the download ends) rewrites it.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
            stream = None
            for frame in frames:
                if stream is None:
                    height, width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2  # yuv420p needs even sides
                    stream = container.add_stream(
                        "libx264", rate=round(fps) if fps else 25, options={"crf": str(crf), "preset": "veryfast"}
                    )
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
                container.mux(stream.encode(picture))
            if stream is None:
                raise ValueError("no frames to encode")
            container.mux(stream.encode())
        return path.read_bytes()


def hex_to_bgr(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[4:6], 16), int(value[2:4], 16), int(value[0:2], 16)


def captioned_frames(frames: Iterable[np.ndarray], captions: list[str], colours: list[str]) -> Iterator[np.ndarray]:
    """Each RGB frame, copied, with a coloured band at the top carrying its caption (a label and its confidence);
    one at a time, so that encoding them needs one frame's memory, not another copy of the video."""
    for frame, caption, colour in zip(frames, captions, colours):
        out = np.array(frame, copy=True)
        height = out.shape[0]
        band = max(14, height // 9)
        scale = band / 30
        red, green, blue = hex_to_bgr(colour)[::-1]
        out[:band] = (0.35 * out[:band] + 0.65 * np.array([red, green, blue])).astype(np.uint8)
        cv2.putText(
            out,
            caption,
            (4, band - max(3, band // 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, round(scale * 2)),
            cv2.LINE_AA,
        )
        yield out


def caption_frames(frames: np.ndarray, captions: list[str], colours: list[str]) -> np.ndarray:
    """captioned_frames, all of them in one array."""
    return np.stack(list(captioned_frames(frames, captions, colours)))


@dataclass(frozen=True)
class StillFrames:
    """A video's frames as JPEG, one each, for a page to show any of them again (a scrubber) at a tenth of the
    memory of the pixels: what a session keeps of an upload. Indexing gives one frame's JPEG (st.image sends it
    as it is); iterating gives the RGB frames back, for an annotated video."""

    jpegs: tuple[bytes, ...] = field(repr=False)
    shape: tuple[int, int, int, int]  # (T, H, W, 3), as the frames' array had

    QUALITY = 90

    @classmethod
    def jpeg(cls, frame: np.ndarray) -> bytes:
        """One RGB frame (H, W, 3) uint8 as JPEG."""
        encoded, data = cv2.imencode(
            ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, cls.QUALITY]
        )
        if not encoded:
            raise ValueError("a frame could not be encoded as JPEG")
        return data.tobytes()

    @classmethod
    def of_jpegs(cls, jpegs: list[bytes]) -> StillFrames:
        """Frames already encoded with ``jpeg`` (as decode_video's encode_preview does, one by one)."""
        return cls(tuple(jpegs), (len(jpegs), *cls.decoded(jpegs[0]).shape))

    @staticmethod
    def decoded(data: bytes) -> np.ndarray:
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def __len__(self) -> int:
        return len(self.jpegs)

    def __getitem__(self, index: int) -> bytes:
        return self.jpegs[index]

    def __iter__(self) -> Iterator[np.ndarray]:
        for data in self.jpegs:
            yield self.decoded(data)


@dataclass(frozen=True)
class FrameTimes:
    """When each frame is on screen, in seconds from the first: the timeline, the scrubber and the time per label
    follow the video's own clock, so a variable frame rate shows as it plays."""

    starts: np.ndarray
    fps: float  # the declared rate: the annotated video's rate, and the last frame's duration

    @classmethod
    def steady(cls, count: int, fps: float) -> FrameTimes:
        return cls(np.arange(count) / fps, fps)

    @classmethod
    def of(cls, info: VideoInfo) -> FrameTimes:
        fps = info.fps or 25
        if np.isnan(info.times).any():  # a container without timestamps: fall back to the declared rate
            return cls.steady(len(info.times), fps)
        return cls(info.times - info.times[0], fps)

    @property
    def durations(self) -> np.ndarray:
        return np.diff(np.r_[self.starts, self.starts[-1] + 1 / self.fps])

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.durations


def decoding_notes(info: VideoInfo, times: FrameTimes) -> list[str]:
    """What a page must say of a decoded upload: frames left out, a damaged file, a rotation, a variable rate."""
    count, steps = len(times.starts), np.diff(times.starts)
    notes = []
    if info.capped:
        notes.append(
            f"Only the first {count} frames ({times.starts[-1]:.1f} s) are labelled: the page decodes at "
            f"most {info.frame_cap} frames of a {info.width}×{info.height} video."
        )
    if info.damaged:
        notes.append(f"The file is damaged after frame {count}; the frames before it are labelled.")
    if info.rotation:
        notes.append(f"The video carries a {info.rotation}° rotation; it was turned upright before labelling.")
    if len(steps) > 2 and steps.max() > 1.5 * np.median(steps):
        notes.append(
            f"Variable frame rate: frames are {steps.min() * 1000:.0f}–{steps.max() * 1000:.0f} ms "
            "apart. The timeline uses each frame's own time; the model sees frames, not seconds."
        )
    return notes
