"""Fashion-MNIST in its original idx format, and the seeded train/validation split."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from training.data.sources import FASHION_MNIST

# idx type codes (http://yann.lecun.com/exdb/mnist/): the third byte of the magic number.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(blob: bytes) -> np.ndarray:
    """Decode one idx file: 2 zero bytes, a type code, the number of dimensions, big-endian sizes, then data."""
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0:
        raise ValueError("not an idx file: bad magic number")
    type_code, n_dims = blob[2], blob[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"unknown idx type code 0x{type_code:02x}")
    header_end = 4 + 4 * n_dims
    if len(blob) < header_end:
        raise ValueError("idx header is truncated")
    shape = struct.unpack(f">{n_dims}I", blob[4:header_end])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(blob) - header_end != expected:
        raise ValueError(f"idx body has {len(blob) - header_end} bytes, the header promises {expected}")
    # A copy, because frombuffer is read-only and torch refuses to wrap read-only memory.
    return np.frombuffer(blob, dtype=dtype, offset=header_end).reshape(shape).copy()


@dataclass(frozen=True)
class ImageSplits:
    """uint8 images (N, 28, 28) and int64 labels (N,) per split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle cut into (train, validation) index arrays."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_fashion_mnist(val_fraction: float = 1 / 12, seed: int = 0) -> ImageSplits:
    """The official 60k/10k split, with validation carved from train (5,000 images by default)."""
    read = lambda name: parse_idx(FASHION_MNIST.path(name).read_bytes())  # noqa: E731
    images, labels = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte").astype(np.int64)
    train, val = split_indices(len(images), val_fraction, seed)
    return ImageSplits(
        train_images=images[train],
        train_labels=labels[train],
        val_images=images[val],
        val_labels=labels[val],
        test_images=read("t10k-images-idx3-ubyte"),
        test_labels=read("t10k-labels-idx1-ubyte").astype(np.int64),
    )


def write_examples(path, per_class: int = 5, seed: int = 0) -> None:
    """A few official test images per class for the dashboard to offer (it never reads the data set itself)."""
    splits = load_fashion_mnist(seed=seed)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [
            rng.choice(np.flatnonzero(splits.test_labels == c), per_class, replace=False)
            for c in range(int(splits.test_labels.max()) + 1)
        ]
    )
    np.savez_compressed(path, images=splits.test_images[chosen], labels=splits.test_labels[chosen], test_index=chosen)


if __name__ == "__main__":
    import sys

    write_examples(sys.argv[1] if len(sys.argv) > 1 else "dashboard/assets/fashion_mnist_test_examples.npz")
