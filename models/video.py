"""Video files in, model input out: PyAV decodes a video into the small grey frames the camera-motion models read
(and RGB previews for the page), with the facts about the stream a person needs when it goes wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


class VideoError(ValueError):
    """A file that is not a usable video; the message is meant for the person who uploaded it."""


@dataclass
class VideoInfo:
    width: int  # as stored, before rotation
    height: int
    fps: float | None  # the stream's average rate; the kept frames' own times are in ``times``
    codec: str
    frames_in_file: int | None  # as declared by the container (None when it does not say)
    times: np.ndarray  # presentation time of each kept frame in seconds (variable frame rate shows here)
    rotation: int  # degrees counter-clockwise applied to show the video upright (phone metadata)
    capped: bool  # decoding stopped at the frame or pixel cap; only the first frames are labelled
    frame_cap: int | None  # the cap that applied
    damaged: bool  # decoding stopped at an unreadable part; the frames before it are kept


# 8-bit pixel formats whose first plane is the luma (grey) picture, full size.
LUMA_FIRST_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
FULL_RANGE = 2  # AVCOL_RANGE_JPEG: luma uses 0-255 rather than video's 16-235


def grey_thumbnail(frame, size: int) -> np.ndarray:
    """A decoded frame as size × size grey uint8 (0-255). For YUV video the luma plane already is the grey
    picture: shrinking it with OpenCV's area filter is ~3× faster than a libswscale conversion and alias-free."""
    import cv2

    if frame.format.name not in LUMA_FIRST_FORMATS:
        return frame.reformat(width=size, height=size, format="gray").to_ndarray()
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    small = cv2.resize(luma, (size, size), interpolation=cv2.INTER_AREA)
    if frame.format.name.startswith("yuvj") or frame.color_range == FULL_RANGE or frame.format.name == "gray":
        return small
    return cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)  # video range 16-235 -> 0-255


def decode_video(
    path,
    frame_size: int = 64,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    preview_width: int | None = None,
    encode_preview: Callable[[np.ndarray], object] | None = None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray | list | None, VideoInfo]:
    """Decode a video file with PyAV into model input: grayscale frames (T, S, S) uint8, squashed to a square as
    in training, plus optional RGB preview frames (T, h, preview_width, 3) and facts about the stream.
    ``encode_preview`` (e.g. JPEG) is applied to each upright preview frame as it is decoded, and the previews come
    back as a list of what it returns: a long video's previews are then never all held as pixels.

    Only the first frames are kept: at most ``max_frames``, and at most ``max_pixels`` decoded pixels in all (so a
    4K video stops sooner than a small one); the returned info says when that cut a video short. Raises
    VideoError, with a message for a person, on anything that is not a decodable video."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(
            f"FFmpeg cannot read this file: it is not a video, or it is damaged or cut short "
            f"({error.strerror if isinstance(error, av.error.FFmpegError) else error})"
        ) from None
    with container:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams at all"
            raise VideoError(f"the file has no video stream (it holds {kinds})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-parallel decoding: the decoder is the slowest part of the pipeline
        rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        if max_pixels and stream.codec_context.width and stream.codec_context.height:
            affordable = max(1, max_pixels // (stream.codec_context.width * stream.codec_context.height))
            max_frames = min(max_frames or affordable, affordable)
        expected = stream.frames or (round(container.duration / 1e6 * rate) if container.duration and rate else 0)
        frames, previews, times = [], [], []
        rotation, damaged, capped = 0, False, False
        try:
            decoder = container.decode(stream)
            for frame in decoder:
                if not frames:
                    rotation = int(round(frame.rotation or 0)) % 360
                frames.append(grey_thumbnail(frame, frame_size))
                if preview_width:
                    preview_height = max(2, round(preview_width * frame.height / frame.width / 2) * 2)
                    picture = frame.reformat(width=preview_width, height=preview_height, format="rgb24").to_ndarray()
                    # Kept as stored (the rotation below turns all of them upright), unless encoded one by one.
                    previews.append(encode_preview(upright(picture, rotation)) if encode_preview else picture)
                times.append(float(frame.time) if frame.time is not None else np.nan)
                if progress and expected:
                    progress(min(1.0, len(frames) / min(expected, max_frames or expected)))
                if max_frames and len(frames) >= max_frames:
                    capped = next(decoder, None) is not None
                    break
        except (av.error.FFmpegError, ValueError) as error:
            if not frames:
                raise VideoError(f"the video stream cannot be decoded ({error})") from None
            damaged = True
        if not frames:
            raise VideoError("the video stream has no frames")
        info = VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=rate,
            codec=stream.codec_context.name,
            frames_in_file=stream.frames or None,
            times=np.asarray(times),
            rotation=rotation,
            capped=capped,
            frame_cap=max_frames,
            damaged=damaged,
        )
    video = upright(np.stack(frames), rotation, axes=(1, 2))
    if encode_preview or not previews:
        return video, previews or None, info
    return video, upright(np.stack(previews), rotation, axes=(1, 2)), info


def upright(pixels: np.ndarray, rotation: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Turned by ``rotation`` degrees counter-clockwise (a multiple of 90, as phones record it) over ``axes``."""
    if rotation % 90 or not rotation:
        return pixels
    return np.ascontiguousarray(np.rot90(pixels, k=rotation // 90, axes=axes))  # rot90 turns counter-clockwise
