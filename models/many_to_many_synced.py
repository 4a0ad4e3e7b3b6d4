"""Many to many, synced: one label per input step. Here, the camera motion at every frame of a video.

One frame carries no motion, so the per-frame network (the one-to-one baseline) can only guess; a unidirectional
GRU sees the frames up to t and compares them; a bidirectional GRU also sees frame t+1, which is where the motion
that starts at frame t shows. All three share the same small CNN frame encoder, which keeps a coarse spatial map
(motion lives in where things are) instead of pooling it away.

The recurrent layer is a convolutional GRU (Shi et al., 2015; Ballas et al., 2016): a GRU whose input and state
are that spatial map and whose weight matrices are 3×3 convolutions. Comparing this frame with the remembered one
is the same job at every position, so the weights that learn it are shared across positions, which a GRU over
the flattened map would have to learn 64 times over.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Camera motion, not content motion: on "pan right" the camera turns right and the scene slides left.
CAMERA_MOTIONS = ("static", "pan left", "pan right", "tilt up", "tilt down", "zoom in", "zoom out", "cut")
IGNORE_LABEL = -100  # frames without a label (padding) are left out of the loss


@dataclass(frozen=True)
class Config:
    recurrence: str = "bi"  # "none" (per-frame baseline) | "uni" | "bi"
    frame_size: int = 64  # frames are resized to frame_size × frame_size grayscale
    labels: tuple[str, ...] = CAMERA_MOTIONS
    patch: int = 4  # the stem embeds each 4×4 patch (16 channels keep it nearly lossless): 64 -> 16
    encoder_channels: tuple[int, ...] = (16, 32)  # the stem's channels, then one stride-2 block each: 16 -> 8
    map_channels: int = 16  # channels of the spatial map the encoder hands on
    state_channels: int = 16  # channels of the GRU's state map, per direction
    head_hidden: int = 64  # the per-frame classifier's hidden layer
    dropout: float = 0.1

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def map_side(self) -> int:
        return self.frame_size // self.patch // 2 ** (len(self.encoder_channels) - 1)

    @property
    def arch(self) -> str:
        """The run name training.train derives from the config."""
        return {"none": "per_frame", "uni": "gru", "bi": "bigru"}[self.recurrence]


class FrameEncoder(nn.Module):
    """Small CNN over one frame at a time -> a coarse map of what is where (B, T, M, s, s)."""

    def __init__(self, config: Config):
        super().__init__()
        # A patch stem then strided convolutions: a fraction of the cost of full-resolution convolutions, which
        # matters at thousands of frames per second on a CPU.
        channels = config.encoder_channels[0]
        layers = [nn.Conv2d(1, channels, config.patch, stride=config.patch, bias=False), nn.BatchNorm2d(channels),
                  nn.ReLU()]
        for out in config.encoder_channels[1:]:
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers += [nn.Conv2d(channels, config.map_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, steps, height, width = frames.shape
        images = frames.reshape(batch * steps, 1, height, width)  # (B, T, S, S) -> (B*T, 1, S, S)
        # Each frame normalised by its own statistics: exposure drift and gain changes carry no motion.
        images = (images - images.mean((2, 3), keepdim=True)) / (images.std((2, 3), keepdim=True) + 0.02)
        maps = self.net(images)  # (B*T, M, s, s), s = map_side
        return maps.reshape(batch, steps, *maps.shape[1:])  # (B*T, M, s, s) -> (B, T, M, s, s)


class ConvGRU(nn.Module):
    """One direction of a GRU over maps, in PyTorch's GRU formulation with convolutions for matrix products:
    r, z = σ(W_x x + W_h h), n = tanh(W_xn x + r ⊙ W_hn h), h' = (1 − z) ⊙ n + z ⊙ h."""

    def __init__(self, in_channels: int, state_channels: int, reverse: bool = False):
        super().__init__()
        self.state_channels, self.reverse = state_channels, reverse
        self.from_input = nn.Conv2d(in_channels, 3 * state_channels, 1)
        self.from_state = nn.Conv2d(state_channels, 3 * state_channels, 3, padding=1, bias=False)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        batch, steps = maps.shape[:2]
        # The input's share of every gate, for all frames at once: one big convolution instead of T small ones.
        inputs = self.from_input(maps.flatten(0, 1))  # (B, T, M, s, s) -> (B*T, M, s, s) -> (B*T, 3H, s, s)
        inputs = inputs.reshape(batch, steps, *inputs.shape[1:])  # (B*T, 3H, s, s) -> (B, T, 3H, s, s)
        state = inputs.new_zeros(batch, self.state_channels, *inputs.shape[3:])  # (B, H, s, s)
        outputs = []
        for step in (reversed(range(steps)) if self.reverse else range(steps)):
            input_reset, input_update, input_new = inputs[:, step].chunk(3, dim=1)
            state_reset, state_update, state_new = self.from_state(state).chunk(3, dim=1)
            reset = torch.sigmoid(input_reset + state_reset)
            update = torch.sigmoid(input_update + state_update)
            candidate = torch.tanh(input_new + reset * state_new)
            state = (1 - update) * candidate + update * state
            outputs.append(state)
        if self.reverse:
            outputs.reverse()
        return torch.stack(outputs, dim=1)  # (B, T, H, s, s)


class CameraMotionLabeller(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        if config.recurrence not in ("none", "uni", "bi"):
            raise ValueError(f"recurrence must be none, uni or bi, not {config.recurrence!r}")
        self.config = config
        self.encoder = FrameEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        directions = {"none": [], "uni": [False], "bi": [False, True]}[config.recurrence]
        self.directions = nn.ModuleList(ConvGRU(config.map_channels, config.state_channels, reverse)
                                        for reverse in directions)
        channels = config.state_channels * len(directions) if directions else config.map_channels
        # Flattened, not pooled: a zoom is told from a pan by where things move (outwards vs. all one way).
        self.classifier = nn.Sequential(nn.Linear(channels * config.map_side ** 2, config.head_hidden), nn.ReLU(),
                                        nn.Dropout(config.dropout), nn.Linear(config.head_hidden, config.n_classes))

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names, as the classical peer has them too: either labels a video the same way."""
        return self.config.labels

    def forward(self, frames: torch.Tensor, labels: torch.Tensor | None = None):
        """frames (B, T, S, S) uint8 or [0, 1] floats; labels (B, T) with IGNORE_LABEL for padding.
        Returns logits (B, T, C) and the mean cross-entropy over labelled frames (or None)."""
        if frames.dtype == torch.uint8:
            frames = frames.float() / 255
        maps = self.dropout(self.encoder(frames))  # (B, T, M, s, s)
        if self.directions:
            maps = torch.cat([direction(maps) for direction in self.directions], dim=2)  # (B, T, D*H, s, s)
        logits = self.classifier(self.dropout(maps.flatten(2)))  # (B, T, D*H, s, s) -> (B, T, D*H*s*s) -> (B, T, C)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),  # (B*T, C), (B*T,)
                                   ignore_index=IGNORE_LABEL)
        return logits, loss

    @torch.no_grad()
    def predict(self, frames: torch.Tensor) -> torch.Tensor:
        """Label probabilities (B, T, C) for whole clips."""
        logits, _ = self(frames)
        return logits.softmax(-1)

    @torch.no_grad()
    def label_video(self, frames: np.ndarray | torch.Tensor, chunk_frames: int = 256, overlap: int = 32,
                    windows_per_batch: int = 8) -> np.ndarray:
        """Probabilities (T, C) for a video of any length, frames (T, S, S) uint8.

        Long videos run in windows of ``chunk_frames`` that overlap by ``overlap``; each frame is taken from the
        window where it lies furthest from an edge (at least overlap/2 frames of context on each side), so the
        stitched result matches whole-clip inference wherever the recurrence forgets within overlap/2 frames."""
        frames = torch.as_tensor(frames)
        total = len(frames)
        if total <= chunk_frames:
            return self.predict(frames[None])[0].numpy()
        if not 0 <= overlap < chunk_frames or overlap % 2:
            raise ValueError("overlap must be even and smaller than chunk_frames")
        step, margin = chunk_frames - overlap, overlap // 2
        starts = list(range(0, total - chunk_frames, step)) + [total - chunk_frames]
        probabilities = torch.empty(total, self.config.n_classes)
        for first in range(0, len(starts), windows_per_batch):
            batch_starts = starts[first:first + windows_per_batch]
            windows = torch.stack([frames[s:s + chunk_frames] for s in batch_starts])  # (W, chunk, S, S)
            for start, window in zip(batch_starts, self.predict(windows)):
                # Which frames this window owns: everything but a margin at each edge that another window covers.
                own_from = 0 if start == 0 else margin
                own_to = chunk_frames if start + chunk_frames == total else chunk_frames - margin
                if start == starts[-1] and len(starts) > 1:  # the last window is aligned to the end, not the step
                    own_from = max(own_from, starts[-2] + chunk_frames - margin - start)
                probabilities[start + own_from:start + own_to] = window[own_from:own_to]
        return probabilities.numpy()


def build_model(config: Config) -> CameraMotionLabeller:
    return CameraMotionLabeller(config)


@dataclass(frozen=True)
class GlobalMotionPeer:
    """The classical way, no learning: estimate the global motion between frames t and t+1 by phase correlation
    (translation) and by trying a slightly scaled frame against the next (zoom), then threshold it. A cut is a
    pair of frames whose grey-level histograms differ. Frame t gets the motion from t to t+1, as in the labels; a mode filter over
    ``smooth`` frames removes single-frame flicker from hand shake. Thresholds are for 64 × 64 frames and were
    set by hand on validation clips."""

    labels: tuple[str, ...] = CAMERA_MOTIONS
    shift_threshold: float = 0.4  # pixels per frame
    zoom_step: float = 1.03  # the scale change tried between frames
    zoom_gain: float = 0.97  # a scaled frame must match with this fraction of the error of the others
    cut_similarity: float = 0.5  # grey-level histograms that correlate less than this: a new shot
    smooth: int = 5

    def motions(self, frames: np.ndarray) -> np.ndarray:
        """(T - 1, 4) per pair of frames: dx, dy (content shift in pixels, by phase correlation), the zoom (+1 when
        frame t enlarged by ``zoom_step`` matches frame t+1 clearly better than unscaled, -1 when shrunk does, else
        0) and the grey-level histogram correlation (a cut when low)."""
        import cv2

        frames = np.asarray(frames, dtype=np.float32)
        size = frames.shape[1]
        centre = (size - 1) / 2
        inner = np.s_[size // 8:-size // 8, size // 8:-size // 8]  # away from borders the warps have to invent
        window = cv2.createHanningWindow((size, size), cv2.CV_32F)
        # Smoothed copies for the zoom test: interpolation smooths a warped frame, which on noisy footage would
        # otherwise make any warp match better than none.
        smooth = [cv2.GaussianBlur(f, (0, 0), 1.2) for f in frames]
        histograms = [cv2.calcHist([f], [0], None, [32], [0, 256]) for f in frames]
        result = np.zeros((max(len(frames) - 1, 0), 4), np.float32)
        for t in range(len(frames) - 1):
            (dx, dy), _ = cv2.phaseCorrelate(frames[t], frames[t + 1], window)
            errors = []
            for scale in (1 / self.zoom_step, 1.0, self.zoom_step):
                matrix = np.float32([[scale, 0, (1 - scale) * centre + dx], [0, scale, (1 - scale) * centre + dy]])
                moved = cv2.warpAffine(smooth[t], matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
                errors.append(float(np.abs(moved[inner] - smooth[t + 1][inner]).mean()))
            shrink, keep, enlarge = errors
            zoom = (1 if enlarge < self.zoom_gain * min(keep, shrink)
                    else -1 if shrink < self.zoom_gain * min(keep, enlarge) else 0)
            similarity = cv2.compareHist(histograms[t], histograms[t + 1], cv2.HISTCMP_CORREL)
            result[t] = dx, dy, zoom, similarity
        return result

    def label_video(self, frames: np.ndarray) -> np.ndarray:
        """One-hot probabilities (T, C), the same interface as the networks."""
        index = {name: i for i, name in enumerate(self.labels)}
        motions = self.motions(frames)
        labels = np.full(len(frames), index["static"])
        for t, (dx, dy, zoom, _) in enumerate(motions):
            if zoom:
                labels[t] = index["zoom in" if zoom > 0 else "zoom out"]
            elif max(abs(dx), abs(dy)) > self.shift_threshold:
                # The content moves against the camera: it slides left when the camera pans right.
                if abs(dx) >= abs(dy):
                    labels[t] = index["pan right" if dx < 0 else "pan left"]
                else:
                    labels[t] = index["tilt down" if dy < 0 else "tilt up"]
        if len(motions):  # the last frame has no next one to compare with: it keeps the motion before it
            labels[-1] = labels[-2]
        labels = mode_filter(labels, self.smooth, len(self.labels))
        cuts = np.flatnonzero(motions[:, 3] < self.cut_similarity) + 1 if len(motions) else np.array([], int)
        labels[cuts] = index["cut"]
        return np.eye(len(self.labels), dtype=np.float32)[labels]


def mode_filter(labels: np.ndarray, width: int, n_classes: int) -> np.ndarray:
    """Each label replaced by the most frequent one in a centred window of ``width`` frames."""
    if width <= 1 or len(labels) < 2:
        return labels.copy()
    padded = np.pad(labels, width // 2, mode="edge")
    votes = np.stack([np.bincount(padded[t:t + width], minlength=n_classes) for t in range(len(labels))])
    return votes.argmax(1)


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
    luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
    small = cv2.resize(luma, (size, size), interpolation=cv2.INTER_AREA)
    if frame.format.name.startswith("yuvj") or frame.color_range == FULL_RANGE or frame.format.name == "gray":
        return small
    return cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)  # video range 16-235 -> 0-255


def decode_video(path, frame_size: int = 64, max_frames: int | None = None, max_pixels: int | None = None,
                 preview_width: int | None = None, progress=None) -> tuple[np.ndarray, np.ndarray | None, VideoInfo]:
    """Decode a video file with PyAV into model input: grayscale frames (T, S, S) uint8, squashed to a square as
    in training, plus optional RGB preview frames (T, h, preview_width, 3) and facts about the stream.

    Only the first frames are kept: at most ``max_frames``, and at most ``max_pixels`` decoded pixels in all (so a
    4K video stops sooner than a small one); the returned info says when that cut a video short. Raises
    VideoError, with a message for a person, on anything that is not a decodable video."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
        raise VideoError(f"FFmpeg cannot read this file: it is not a video, or it is damaged or cut short "
                         f"({error.strerror if isinstance(error, av.error.FFmpegError) else error})") from None
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
                if preview_width:  # as stored: the rotation below turns it upright
                    preview_height = max(2, round(preview_width * frame.height / frame.width / 2) * 2)
                    previews.append(frame.reformat(width=preview_width, height=preview_height,
                                                   format="rgb24").to_ndarray())
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
        info = VideoInfo(width=stream.codec_context.width, height=stream.codec_context.height, fps=rate,
                         codec=stream.codec_context.name, frames_in_file=stream.frames or None,
                         times=np.asarray(times), rotation=rotation, capped=capped, frame_cap=max_frames,
                         damaged=damaged)
    video = np.stack(frames)
    preview = np.stack(previews) if previews else None
    if rotation % 90 == 0 and rotation:
        turns = rotation // 90  # np.rot90 turns counter-clockwise, as the display matrix asks
        video = np.ascontiguousarray(np.rot90(video, k=turns, axes=(1, 2)))
        preview = np.ascontiguousarray(np.rot90(preview, k=turns, axes=(1, 2))) if preview is not None else None
    return video, preview, info
