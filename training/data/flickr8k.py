"""Bring your own captions: a data set in the Flickr8k layout, for users who have one.

    DATA_DIR/
      captions.txt      # "image,caption" header, then one "name.jpg,A caption ." line per caption (5 per image)
      Images/           # the photos (Flickr8k_Dataset/ or the images directly in DATA_DIR also work)

This is the layout of the widely used Kaggle copy of Flickr8k; any data set written the same way works. It cannot
be downloaded here (no captioned photo set is reachable offline), so nothing is fetched: the user points
``data_dir`` at their copy. Letterboxed images are cached outside git, keyed by the folder and the image size.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.one_to_many import letterbox
from training.data.fashion_mnist import split_indices
from training.data.sources import cache_dir

CAPTIONS_FILE = "captions.txt"
IMAGE_FOLDERS = ("Images", "Flicker8k_Dataset", "Flickr8k_Dataset", ".")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass
class CaptionSplit:
    images: np.ndarray  # (N, S, S, 3) uint8, letterboxed
    captions: list[list[list[str]]]  # per image, its captions as word lists
    names: list[str]


def tokenize(caption: str) -> list[str]:
    """Lower-case words; punctuation dropped (the way captioning benchmarks compare captions)."""
    return _WORD.findall(caption.lower())


def read_captions(path: Path) -> dict[str, list[str]]:
    """image name -> its captions, in file order. Unquoted commas inside a caption are kept."""
    captions: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
            raise ValueError(f"{path} must start with the header 'image,caption'")
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) < 2 or not row[0].strip():
                raise ValueError(f"{path} line {number}: expected 'image,caption'")
            caption = ",".join(row[1:]).strip()
            if caption:
                captions.setdefault(row[0].strip(), []).append(caption)
    if not captions:
        raise ValueError(f"{path} has no captions")
    return captions


def image_folder(data_dir: Path) -> Path:
    for name in IMAGE_FOLDERS:
        folder = data_dir / name
        if folder.is_dir() and (any(folder.glob("*.jp*g")) or any(folder.glob("*.png"))):
            return folder
    raise FileNotFoundError(f"no image folder ({', '.join(IMAGE_FOLDERS[:-1])}) with images in {data_dir}")


def load_flickr8k(
    data_dir: str | Path, image_size: int, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, CaptionSplit]:
    """Train / validation / test splits by image (all captions of an image stay together), seeded."""
    data_dir = Path(data_dir).expanduser()
    captions_path = data_dir / CAPTIONS_FILE
    if not captions_path.is_file():
        raise FileNotFoundError(f"{captions_path} not found: data_dir must hold captions.txt and an image folder")
    captions = read_captions(captions_path)
    folder = image_folder(data_dir)
    names = sorted(name for name in captions if (folder / name).is_file())
    missing = len(captions) - len(names)
    if not names:
        raise FileNotFoundError(f"none of the {len(captions)} images named in captions.txt is in {folder}")
    images = _letterboxed(folder, names, image_size)
    rest, test = split_indices(len(names), test_fraction, seed)
    train, val = (rest[part] for part in split_indices(len(rest), val_fraction / (1 - test_fraction), seed + 1))
    if missing:
        print(f"flickr8k: {missing} images named in captions.txt are missing and skipped")
    return {
        split: CaptionSplit(
            images[index], [[tokenize(c) for c in captions[names[i]]] for i in index], [names[i] for i in index]
        )
        for split, index in (("train", train), ("val", val), ("test", test))
    }


def _letterboxed(folder: Path, names: list[str], image_size: int) -> np.ndarray:
    key = hashlib.sha256(f"{folder.resolve()}|{image_size}|{'|'.join(names)}".encode()).hexdigest()[:16]
    path = cache_dir() / "flickr8k" / f"images-{key}.npy"
    if path.exists():
        return np.load(path)
    images = np.stack([letterbox(Image.open(folder / name), image_size) for name in names])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, images)
    return images


def build_vocabulary(captions: list[list[list[str]]], min_count: int) -> tuple[str, ...]:
    """Words seen at least ``min_count`` times in the training captions, most frequent first."""
    counts = Counter(word for per_image in captions for caption in per_image for word in caption)
    return tuple(word for word, count in counts.most_common() if count >= min_count)
