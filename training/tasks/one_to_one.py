"""One to one: classify Fashion-MNIST images with an MLP, a CNN or a row-by-row LSTM.

``python -m training.tasks.one_to_one out-of-domain [BUNDLE …]`` measures the out-of-domain threshold of trained
checkpoints (the shipped ones by default) and writes it beside each, without touching the weights."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models import one_to_one, store
from models.checkpoint import load_checkpoint
from training.batching import TensorBatches
from training.data.fashion_mnist import load_fashion_mnist
from training.data.real_photos import real_photos
from training.data.sources import FASHION_MNIST
from training.evaluation import out_of_domain_threshold, predict_labels
from training.metrics import classification_scores, confusion_report
from training.tasks import Task
from training.trainer import TrainConfig


@dataclass(frozen=True)
class Config(TrainConfig):
    model: one_to_one.Config = field(default_factory=one_to_one.Config)
    val_fraction: float = 1 / 12
    augment: bool = True  # random ±2 px shifts and horizontal flips of training images


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(255).unsqueeze(1)  # (N, S, S) uint8 -> (N, 1, S, S) in [0, 1]


def augment(batch: dict) -> dict:
    """Fashion items are left-right symmetric in meaning, and their framing varies by a few pixels."""
    images = batch["images"]
    flip = torch.rand(len(images)) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    padded = F.pad(images, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,))
    side = images.size(-1)
    return {**batch, "images": padded[..., dy : dy + side, dx : dx + side]}


def prepare(config: Config, dry_run: bool = False) -> Task:
    splits = load_fashion_mnist(config.val_fraction, config.seed)
    limit = 2 * config.batch_size if dry_run else None
    data = {
        "train": (splits.train_images, splits.train_labels),
        "val": (splits.val_images, splits.val_labels),
        "test": (splits.test_images, splits.test_labels),
    }
    tensors = {
        split: (to_tensor(images[:limit]), torch.from_numpy(labels[:limit])) for split, (images, labels) in data.items()
    }
    model = one_to_one.build_model(config.model)

    def predictions(model: torch.nn.Module, split: str) -> tuple[np.ndarray, float]:
        images, labels = tensors[split]
        return predict_labels(model, TensorBatches({"images": images, "labels": labels}, 1000))

    def evaluate(model: torch.nn.Module, split: str) -> dict[str, float]:
        predicted, loss = predictions(model, split)
        return {"loss": loss, **classification_scores(tensors[split][1].numpy(), predicted, config.model.n_classes)}

    def report(model: torch.nn.Module) -> dict[str, object]:
        predicted, _ = predictions(model, "test")
        return confusion_report(tensors["test"][1].numpy(), predicted, config.model.labels)

    def extra_files(folder: Path) -> None:
        """Beside each best checkpoint: the out-of-domain threshold measured with these very weights."""
        write_out_of_domain(model, folder, tensors["val"][0][:, 0].numpy(), photo_pixels(1 if dry_run else 8))

    images, labels = tensors["train"]
    return Task(
        model=model,
        train_batches=TensorBatches(
            {"images": images, "labels": labels},
            config.batch_size,
            shuffle=True,
            transform=augment if config.augment else None,
        ),
        evaluate=evaluate,
        selection_metric="accuracy",
        dataset_card=FASHION_MNIST.card(),
        report=report,
        extra_files=extra_files,
        info={
            "data.train_size": str(len(labels)),
            "data.val_size": str(len(tensors["val"][1])),
            "data.test_size": str(len(tensors["test"][1])),
        },
    )


# ---- out-of-domain signal ------------------------------------------------------------------------------------


def photo_pixels(crops_per_photo: int = 8) -> np.ndarray:
    """Real photos nothing like a garment, whole and as random crops, preprocessed as the page does an upload."""
    return np.stack([one_to_one.preprocess_image(photo.convert("RGB")) for photo in real_photos(crops_per_photo)])


def evidence(model: one_to_one.ImageClassifier, pixels: np.ndarray) -> np.ndarray:
    """Each image's log-sum-exp of the logits (pixels (N, S, S) in [0, 1])."""
    model.eval()
    return np.concatenate(
        [
            model.predict_with_evidence(torch.from_numpy(chunk)[:, None])[1].numpy()
            for chunk in np.array_split(pixels, max(1, len(pixels) // 1000))
        ]
    )


def write_out_of_domain(
    model: one_to_one.ImageClassifier, folder: Path, validation: np.ndarray, photos: np.ndarray
) -> dict:
    """Measure the threshold with these very weights (validation images against real photos) and save it beside
    them. Low evidence means out of domain, so the threshold is chosen on its negative."""
    chosen = out_of_domain_threshold(-evidence(model, validation), -evidence(model, photos))
    calibration = {
        "statistic": one_to_one.OOD_STATISTIC,
        "threshold": -chosen["threshold"],
        "validation_flagged": chosen["in_domain_flagged"],
        "photos_flagged": chosen["out_of_domain_flagged"],
        "auc": chosen["auc"],
        "validation_images": len(validation),
        "photos": len(photos),
    }
    (folder / one_to_one.OOD_FILE).write_text(json.dumps(calibration, indent=1) + "\n")
    return calibration


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.tasks.one_to_one", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    measure = commands.add_parser("out-of-domain", help="measure and write each checkpoint's out-of-domain threshold")
    measure.add_argument("bundles", nargs="*", type=Path, help="checkpoint folders (default: the shipped ones)")
    arguments = parser.parse_args(argv)
    folders = arguments.bundles or [run.bundle_dir for run in store.shipped_bundles("one_to_one")]
    validation = load_fashion_mnist().val_images.astype(np.float32) / 255  # the split the shipped runs selected on
    photos = photo_pixels()
    for folder in folders:
        calibration = write_out_of_domain(load_checkpoint(folder).model, folder, validation, photos)
        print(
            f"{folder.name}: evidence below {calibration['threshold']:.3f} flags "
            f"{calibration['validation_flagged']:.1%} of validation images and {calibration['photos_flagged']:.0%} "
            f"of real photos (AUC {calibration['auc']:.3f})"
        )


if __name__ == "__main__":
    main()
