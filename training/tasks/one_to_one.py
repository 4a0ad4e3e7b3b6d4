"""One to one: classify Fashion-MNIST images with an MLP, a CNN or a row-by-row LSTM."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from models import one_to_one
from training.batching import TensorBatches
from training.data.fashion_mnist import load_fashion_mnist
from training.data.sources import FASHION_MNIST
from training.evaluation import predict_labels
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
    return {**batch, "images": padded[..., dy:dy + side, dx:dx + side]}


def prepare(config: Config, dry_run: bool = False) -> Task:
    splits = load_fashion_mnist(config.val_fraction, config.seed)
    limit = 2 * config.batch_size if dry_run else None
    data = {
        "train": (splits.train_images, splits.train_labels),
        "val": (splits.val_images, splits.val_labels),
        "test": (splits.test_images, splits.test_labels),
    }
    tensors = {split: (to_tensor(images[:limit]), torch.from_numpy(labels[:limit]))
               for split, (images, labels) in data.items()}
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

    images, labels = tensors["train"]
    return Task(
        model=model,
        train_batches=TensorBatches({"images": images, "labels": labels}, config.batch_size, shuffle=True,
                                    transform=augment if config.augment else None),
        evaluate=evaluate,
        selection_metric="accuracy",
        dataset_card=FASHION_MNIST.card(),
        report=report,
        info={"data.train_size": str(len(labels)), "data.val_size": str(len(tensors["val"][1])),
              "data.test_size": str(len(tensors["test"][1]))},
    )
