"""Synthetic footage with a label on every frame: a virtual camera pans, tilts and zooms over real photos.

No video data set with per-frame labels can be had offline, so this generator films photos the way a hand-held
camera would: segments of one motion at a random speed and length, occasional cuts to another shot, and the
nuisances of real footage (sensor noise, defocus, exposure drift, JPEG artefacts, hand shake, squashed
wide-screen views). Every label is exact because the generator moved the camera itself.

Conventions (shown on the dashboard page as well):

- Labels name the **camera's** motion, not the content's: on ``pan right`` the camera turns right, so the scene
  slides left across the frame; on ``tilt up`` the scene slides down; on ``zoom in`` it grows.
- Frame t carries the motion from frame t to frame t+1, so a segment starts on the frame where the camera starts
  moving; a causal model can only see that motion one frame later. ``cut`` marks the first frame of a new shot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.many_to_many_synced import CAMERA_MOTIONS

# Small grayscale copies of the test-split photos, shipped so the dashboard can film sample clips whose photos no
# model has seen (written by `python -m training.data.camera_motion`).
SAMPLE_PHOTOS = Path(__file__).parents[1] / "checkpoints" / "many_to_many_synced" / "sample_photos.npz"

MOTION_ID = {name: index for index, name in enumerate(CAMERA_MOTIONS)}
# The moving labels (everything but static and cut), as (horizontal, vertical, zoom) steps of the view in
# output pixels per frame (pans, tilts) or as a sign of the zoom (in narrows the view).
MOTION_STEPS = {
    "pan left": (-1, 0, 0),
    "pan right": (1, 0, 0),
    "tilt up": (0, -1, 0),
    "tilt down": (0, 1, 0),
    "zoom in": (0, 0, -1),
    "zoom out": (0, 0, 1),
}


@dataclass(frozen=True)
class GeneratorConfig:
    frame_size: int = 64  # square grayscale frames; wide views are squashed into them, as at inference
    segment_frames: tuple[int, int] = (8, 40)  # length of one motion, inclusive range
    static_share: float = 0.22  # probability of a static segment; the six moving labels share the rest
    cut_probability: float = 0.25  # at each segment boundary
    pan_speed: tuple[float, float] = (0.7, 3.5)  # output pixels per frame
    zoom_rate: tuple[float, float] = (1.02, 1.05)  # view scale factor per frame
    speed_jitter: float = 0.1  # relative, per frame
    shake: tuple[float, float] = (0.0, 0.3)  # std of the hand-shake innovation, output pixels
    shake_rotation: float = 0.15  # degrees, std of the rotational shake innovation at the strongest shake
    noise: tuple[float, float] = (0.0, 0.03)  # std of sensor noise, in [0, 1] intensity
    blur: tuple[float, float] = (0.0, 0.9)  # std of the defocus, output pixels
    exposure_drift: float = 0.01  # std of the log-gain random walk per frame
    jpeg_probability: float = 0.6
    jpeg_quality: tuple[int, int] = (30, 95)
    wide_probability: float = 0.4  # views wider than tall (up to 2.4:1, like bikes.mp4) squashed into the frame
    procedural_share: float = 0.3  # shots over procedural textures instead of photos (training only)


def procedural_texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Noise at several scales plus random shapes: content with edges in every direction and no meaning."""
    image = np.zeros((size, size), np.float32)
    for scale in (4, 16, 64):
        noise = rng.standard_normal((size // scale + 2, size // scale + 2)).astype(np.float32)
        image += cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC) * rng.uniform(0.3, 1.0)
    image = (image - image.min()) / (np.ptp(image) + 1e-6)
    for _ in range(rng.integers(20, 60)):
        colour = float(rng.uniform(0, 1))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        if rng.random() < 0.5:
            w, h = (int(v) for v in rng.integers(8, size // 6, 2))
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1 if rng.random() < 0.6 else 2)
        else:
            cv2.circle(image, (x, y), int(rng.integers(4, size // 10)), colour, -1 if rng.random() < 0.6 else 2)
    return image


@dataclass
class Shot:
    """The camera over one image: view centre and height in image pixels, width = aspect × height."""

    image: np.ndarray
    cx: float
    cy: float
    height: float
    aspect: float

    def fits(self, cx: float, cy: float, height: float, margin: float = 2.0) -> bool:
        rows, cols = self.image.shape
        half_w, half_h = self.aspect * height / 2 + margin, height / 2 + margin
        return half_w <= cx <= cols - half_w and half_h <= cy <= rows - half_h


class ClipGenerator:
    """Seeded: the same photos, config and seed give the same frames and labels, bit for bit. Photos are
    grayscale float32 arrays in [0, 1], passed in by the caller (the task reads them from the scikit-image wheel;
    the page from the copies shipped beside a checkpoint)."""

    def __init__(self, photos: list[np.ndarray], config: GeneratorConfig = GeneratorConfig(), procedural: bool = False):
        if not photos and not procedural:
            raise ValueError("no photos to film")
        self.photos, self.config, self.procedural = photos, config, procedural

    def new_shot(self, rng: np.random.Generator) -> Shot:
        c = self.config
        if self.procedural and (rng.random() < c.procedural_share or not self.photos):
            source = procedural_texture(rng)
        else:
            source = self.photos[rng.integers(len(self.photos))]
        aspect = float(rng.uniform(1.0, 2.4)) if rng.random() < c.wide_probability else 1.0
        height = c.frame_size * float(rng.uniform(1.2, 2.0))
        room = float(rng.uniform(2.4, 3.6))  # how many view sizes fit in the image, so the camera can travel
        rows, cols = source.shape
        scale = room * height * max(1 / rows, aspect / cols)
        image = cv2.resize(
            source,
            (max(1, round(cols * scale)), max(1, round(rows * scale))),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
        )
        image = cv2.GaussianBlur(image, (0, 0), 0.6)  # the view is downsampled ~1.5×: avoid aliasing shimmer
        shot = Shot(image, 0.0, 0.0, height, aspect)
        best, best_contrast = None, -1.0
        for _ in range(8):  # avoid starting on a blank wall, where no motion is visible
            cx = rng.uniform(aspect * height / 2 + 2, image.shape[1] - aspect * height / 2 - 2)
            cy = rng.uniform(height / 2 + 2, image.shape[0] - height / 2 - 2)
            half_width, half_height = aspect * height / 2, height / 2
            patch = image[int(cy - half_height) : int(cy + half_height), int(cx - half_width) : int(cx + half_width)]
            contrast = float(patch.std())
            if contrast > best_contrast:
                best, best_contrast = (cx, cy), contrast
            if contrast > 0.08:
                break
        shot.cx, shot.cy = best
        return shot

    def plan_segment(self, shot: Shot, motion: str, length: int, rng: np.random.Generator):
        """The view (cx, cy, height) at each of the segment's frames, cut short where the view would leave the
        image; returns the path and the view after its last frame."""
        c = self.config
        dx, dy, dz = MOTION_STEPS.get(motion, (0, 0, 0))
        speed = rng.uniform(*c.pan_speed)
        rate = rng.uniform(*c.zoom_rate)
        cx, cy, height = shot.cx, shot.cy, shot.height
        path = []
        for _ in range(length):
            path.append((cx, cy, height))
            jitter = 1 + c.speed_jitter * rng.standard_normal()
            step = speed * jitter * height / c.frame_size  # output pixels -> image pixels
            next_cx, next_cy = cx + dx * step * shot.aspect, cy + dy * step
            next_height = height * (rate ** (dz * jitter)) if dz else height
            zoomed_too_far = not 0.6 * c.frame_size <= next_height <= 4 * c.frame_size
            if zoomed_too_far or not shot.fits(next_cx, next_cy, next_height):
                break
            cx, cy, height = next_cx, next_cy, next_height
        return path, (cx, cy, height)

    def clip(self, n_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(frames uint8 (T, S, S), labels int64 (T,)) of one clip."""
        c = self.config
        rng = np.random.default_rng(seed)
        shot = self.new_shot(rng)
        views, labels = [], []  # views: (shot, cx, cy, height) per frame
        previous, cut = None, False
        moving = [m for m in MOTION_STEPS]
        while len(labels) < n_frames:
            choices = [m for m in ("static", *moving) if m != previous or cut]
            weights = np.array(
                [c.static_share if m == "static" else (1 - c.static_share) / len(moving) for m in choices]
            )
            motion = str(rng.choice(choices, p=weights / weights.sum()))
            length = int(rng.integers(c.segment_frames[0], c.segment_frames[1] + 1))
            path, end = self.plan_segment(shot, motion, length, rng)
            if len(path) < c.segment_frames[0] and motion != "static":
                continue  # the image border blocks this motion here: choose again
            frame_labels = [MOTION_ID[motion]] * len(path)
            if cut:
                frame_labels[0] = MOTION_ID["cut"]
            views += [(shot, *view) for view in path]
            labels += frame_labels
            shot.cx, shot.cy, shot.height = end
            previous, cut = motion, rng.random() < c.cut_probability
            if cut:
                shot = self.new_shot(rng)
        frames = self.render(views[:n_frames], rng)
        return frames, np.asarray(labels[:n_frames], dtype=np.int64)

    def render(self, views: list, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        size = c.frame_size
        shake_std = rng.uniform(*c.shake)
        noise_std, blur_std = rng.uniform(*c.noise), rng.uniform(*c.blur)
        jpeg_quality = int(rng.integers(*c.jpeg_quality)) if rng.random() < c.jpeg_probability else None
        log_gain, offset = 0.0, 0.0
        shake = np.zeros(3)  # x, y in output pixels; rotation in degrees
        frames = np.empty((len(views), size, size), np.uint8)
        centre = (size - 1) / 2
        for index, (shot, cx, cy, height) in enumerate(views):
            # Hand shake is smooth (a first-order autoregressive wobble), not white noise.
            innovation = rng.standard_normal(3) * shake_std * np.array([1, 1, c.shake_rotation / max(c.shake[1], 1e-6)])
            shake = 0.7 * shake + innovation
            pixel_x, pixel_y = shot.aspect * height / size, height / size  # image pixels per output pixel
            angle = np.deg2rad(shake[2])
            cos, sin = np.cos(angle), np.sin(angle)
            # Output (u, v) -> image (x, y): rotate about the frame centre, scale, then translate to the view centre.
            matrix = np.array([[pixel_x * cos, -pixel_x * sin, 0.0], [pixel_y * sin, pixel_y * cos, 0.0]])
            matrix[:, 2] = [cx + shake[0] * pixel_x, cy + shake[1] * pixel_y]
            matrix[:, 2] -= matrix[:, :2] @ np.array([centre, centre])
            frame = cv2.warpAffine(
                shot.image,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
            log_gain = float(np.clip(log_gain + rng.normal(0, c.exposure_drift), -0.4, 0.4))
            offset = float(np.clip(offset + rng.normal(0, c.exposure_drift / 2), -0.1, 0.1))
            if blur_std > 0.3:
                frame = cv2.GaussianBlur(frame, (0, 0), blur_std)
            frame = frame * np.exp(log_gain) + offset + rng.normal(0, noise_std, frame.shape).astype(np.float32)
            frame = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
            if jpeg_quality:
                _, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                frame = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
            frames[index] = frame
        return frames


def load_sample_photos(path: Path = SAMPLE_PHOTOS) -> list[np.ndarray]:
    """The shipped test photos as float32 in [0, 1]; empty when the file is missing (clips then film textures)."""
    if not path.is_file():
        return []
    with np.load(path) as archive:
        return [archive[name].astype(np.float32) / 255 for name in sorted(archive.files)]
