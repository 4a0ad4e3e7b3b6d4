"""Real photographs that are nothing like any training set here (scikit-image's samples), whole and as random
square crops: the out-of-domain inputs that out-of-domain notices are measured against."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from PIL import Image

from training.data.sources import SKIMAGE_PHOTOS


def real_photos(crops_per_photo: int = 8, seed: int = 0) -> Iterator[Image.Image]:
    """Each photo, then ``crops_per_photo`` random square crops of it (30–90 % of its shorter side), seeded."""
    rng = np.random.default_rng(seed)
    for data_file in SKIMAGE_PHOTOS.files:
        photo = Image.open(io.BytesIO(SKIMAGE_PHOTOS.path(data_file.name).read_bytes()))
        photo.load()
        yield photo
        for _ in range(crops_per_photo):
            side = int(min(photo.size) * rng.uniform(0.3, 0.9))
            x, y = (int(rng.integers(0, extent - side + 1)) for extent in photo.size)
            yield photo.crop((x, y, x + side, y + side))
