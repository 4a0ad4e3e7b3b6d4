"""The camera-motion clips of the synced many-to-many task: real photos from the scikit-image and scikit-learn
wheels and Debian's opencv-doc, split by photo, filmed by the generator in models/generators/camera_motion_clips.py,
cached outside git, the dataset card, and the sample photos the dashboard films."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from models.generators import camera_motion_clips
from models.generators.camera_motion_clips import SAMPLE_PHOTOS, ClipGenerator, GeneratorConfig
from training.data.sources import OPENCV_PHOTOS, SKIMAGE_PHOTOS, SKLEARN_PHOTOS, cache_dir

PHOTO_SOURCES = (SKIMAGE_PHOTOS, SKLEARN_PHOTOS, OPENCV_PHOTOS)

# Disjoint by photo. Stereo and before/after pairs (the two motorcycles; aero, aloe, leuven, ela…) either stay
# together or ship only one half, so no test photo has a near twin in training.
PHOTO_SPLITS = {
    "train": (
        "astronaut.png",
        "camera.png",
        "cell.png",
        "clock_motion.png",
        "grass.png",
        "hubble_deep_field.jpg",
        "ihc.png",
        "motorcycle_left.png",
        "motorcycle_right.png",
        "retina.jpg",
        "text.png",
        "china.jpg",
        "aero1.jpg",
        "aloeL.jpg",
        "apple.jpg",
        "basketball1.png",
        "board.jpg",
        "box_in_scene.png",
        "butterfly.jpg",
        "ela_original.jpg",
        "fruits.jpg",
        "graf1.png",
        "left.jpg",
        "leuvenA.jpg",
        "pic2.png",
        "rubberwhale1.png",
        "squirrel_cls.jpg",
        "starry_night.jpg",
        "stuff.jpg",
    ),
    "val": ("coffee.png", "brick.png", "moon.png", "orange.jpg", "home.jpg"),
    "test": (
        "chelsea.png",
        "coins.png",
        "rocket.jpg",
        "gravel.png",
        "page.png",
        "flower.jpg",
        "baboon.jpg",
        "building.jpg",
        "messi5.jpg",
        "smarties.png",
    ),
}


@lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One photo, from whichever source ships it, as grayscale float32 in [0, 1]."""
    from PIL import Image

    source = next(s for s in PHOTO_SOURCES if any(f.name == name for f in s.files))
    with Image.open(io.BytesIO(source.path(name).read_bytes())) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255


def split_generator(split: str, config: GeneratorConfig = GeneratorConfig()) -> ClipGenerator:
    """The generator of one split: its own photos, plus procedural textures for training."""
    return ClipGenerator([load_photo(name) for name in PHOTO_SPLITS[split]], config, procedural=split == "train")


@dataclass(frozen=True)
class ClipSet:
    frames: np.ndarray  # (N, T, S, S) uint8
    labels: np.ndarray  # (N, T) int64


SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}  # disjoint clip seeds per split, on top of disjoint photos


def clip_set(
    split: str, n_clips: int, n_frames: int, config: GeneratorConfig = GeneratorConfig(), use_cache: bool = True
) -> ClipSet:
    """A split's clips, generated once and cached outside git (keyed by everything that shapes them)."""
    recipe = {
        "split": split,
        "clips": n_clips,
        "frames": n_frames,
        "photos": PHOTO_SPLITS[split],
        "config": asdict(config),
        "generator": 1,
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "camera-motion" / f"{split}-{n_clips}x{n_frames}-{key}.npz"
    if use_cache and path.is_file():
        with np.load(path) as cached:
            return ClipSet(cached["frames"], cached["labels"])
    generator = split_generator(split, config)
    base = SPLIT_SEEDS[split] * 1_000_000
    clips = [generator.clip(n_frames, base + index) for index in range(n_clips)]
    result = ClipSet(np.stack([f for f, _ in clips]), np.stack([labels for _, labels in clips]))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, frames=result.frames, labels=result.labels)
        temporary.replace(path)
    return result


def generator_card(config: GeneratorConfig, sizes: dict[str, str]) -> str:
    """The dataset card: the photos, the generator and its settings, the split sizes."""
    lines = [part for source in PHOTO_SOURCES for part in (source.card(), "")]
    lines += [
        "### Camera-motion clips (generated)",
        "",
        camera_motion_clips.__doc__.split("\n\n", 1)[1].strip(),
        "",
        "Photos per split (no photo is in two splits; training shots also film procedural textures):",
    ]
    lines += [f"- {split}: {', '.join(names)}" for split, names in PHOTO_SPLITS.items()]
    lines += ["", "Sizes: " + "; ".join(f"{k} {v}" for k, v in sizes.items()), "", "Generator settings:", ""] + [
        f"- `{k}` = {v}" for k, v in asdict(config).items()
    ]
    return "\n".join(lines)


def write_sample_photos(max_side: int = 400) -> None:
    """Ship the test-split photos, small and grey, for the dashboard's sample clips (never seen in training)."""
    import cv2

    photos = {}
    for name in PHOTO_SPLITS["test"]:
        photo = load_photo(name)
        scale = min(1.0, max_side / max(photo.shape))
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos[name.rsplit(".", 1)[0]] = np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8)
    SAMPLE_PHOTOS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(SAMPLE_PHOTOS, **photos)
    print(f"{SAMPLE_PHOTOS}: {', '.join(photos)} ({SAMPLE_PHOTOS.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        prog="python -m training.data.camera_motion",
        description="Write the sample photos the dashboard films (models/checkpoints/"
        "many_to_many_synced/sample_photos.npz).",
    ).parse_args()
    write_sample_photos()
