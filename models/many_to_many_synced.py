"""Many to many, synced: one label per input step. Here, the camera motion at every frame of a video.

One frame carries no motion, so the per-frame network (the one-to-one baseline) can only guess; a unidirectional
GRU sees the frames up to t and compares them; a bidirectional GRU also sees frame t+1, which is where the motion
that starts at frame t shows. All three share the same small CNN frame encoder, which keeps a coarse spatial map
(motion lives in where things are) instead of pooling it away.

The recurrent layer is a convolutional GRU (Shi et al., 2015; Ballas et al., 2016): a GRU whose input and state
are that spatial map and whose weight matrices are 3×3 convolutions. Comparing this frame with the remembered one
is the same job at every position, so the weights that learn it are shared across positions, which a GRU over
the flattened map would have to learn 64 times over.

Video files are decoded into frames by models.video; the classical peer (global motion) is in models.peers.
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
        """The architecture's short name, which training.train also names a run by unless told otherwise."""
        return {"none": "per_frame", "uni": "gru", "bi": "bigru"}[self.recurrence]


class FrameEncoder(nn.Module):
    """Small CNN over one frame at a time -> a coarse map of what is where (B, T, M, s, s)."""

    def __init__(self, config: Config):
        super().__init__()
        # A patch stem then strided convolutions: a fraction of the cost of full-resolution convolutions, which
        # matters at thousands of frames per second on a CPU.
        channels = config.encoder_channels[0]
        layers = [
            nn.Conv2d(1, channels, config.patch, stride=config.patch, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ]
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

    def steps(self, count: int) -> range:
        """The order this direction reads the frames in."""
        return reversed(range(count)) if self.reverse else range(count)

    def cell(self, input_gates: torch.Tensor, state: torch.Tensor):
        """One step from the input's share of the gates (B, 3H, s, s) and the state (B, H, s, s): the new state,
        the update gate and the reset gate, each (B, H, s, s)."""
        input_reset, input_update, input_new = input_gates.chunk(3, dim=1)
        state_reset, state_update, state_new = self.from_state(state).chunk(3, dim=1)
        reset = torch.sigmoid(input_reset + state_reset)
        update = torch.sigmoid(input_update + state_update)
        candidate = torch.tanh(input_new + reset * state_new)
        return (1 - update) * candidate + update * state, update, reset

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        batch, steps = maps.shape[:2]
        # The input's share of every gate, for all frames at once: one big convolution instead of T small ones.
        inputs = self.from_input(maps.flatten(0, 1))  # (B, T, M, s, s) -> (B*T, M, s, s) -> (B*T, 3H, s, s)
        inputs = inputs.reshape(batch, steps, *inputs.shape[1:])  # (B*T, 3H, s, s) -> (B, T, 3H, s, s)
        state = inputs.new_zeros(batch, self.state_channels, *inputs.shape[3:])  # (B, H, s, s)
        outputs = []
        for step in self.steps(steps):
            state, _, _ = self.cell(inputs[:, step], state)
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
        self.directions = nn.ModuleList(
            ConvGRU(config.map_channels, config.state_channels, reverse) for reverse in directions
        )
        channels = config.state_channels * len(directions) if directions else config.map_channels
        # Flattened, not pooled: a zoom is told from a pan by where things move (outwards vs. all one way).
        self.classifier = nn.Sequential(
            nn.Linear(channels * config.map_side**2, config.head_hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.head_hidden, config.n_classes),
        )

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
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)),
                labels.reshape(-1),  # (B*T, C), (B*T,)
                ignore_index=IGNORE_LABEL,
            )
        return logits, loss

    @torch.no_grad()
    def predict(self, frames: torch.Tensor) -> torch.Tensor:
        """Label probabilities (B, T, C) for whole clips."""
        logits, _ = self(frames)
        return logits.softmax(-1)

    @torch.no_grad()
    def label_video(
        self, frames: np.ndarray | torch.Tensor, chunk_frames: int = 256, overlap: int = 32, windows_per_batch: int = 8
    ) -> np.ndarray:
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
            batch_starts = starts[first : first + windows_per_batch]
            windows = torch.stack([frames[s : s + chunk_frames] for s in batch_starts])  # (W, chunk, S, S)
            for start, window in zip(batch_starts, self.predict(windows)):
                # Which frames this window owns: everything but a margin at each edge that another window covers.
                own_from = 0 if start == 0 else margin
                own_to = chunk_frames if start + chunk_frames == total else chunk_frames - margin
                if start == starts[-1] and len(starts) > 1:  # the last window is aligned to the end, not the step
                    own_from = max(own_from, starts[-2] + chunk_frames - margin - start)
                probabilities[start + own_from : start + own_to] = window[own_from:own_to]
        return probabilities.numpy()


def build_model(config: Config) -> CameraMotionLabeller:
    return CameraMotionLabeller(config)
