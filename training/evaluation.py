"""Running a trained classifier over labelled batches, the way every classification task evaluates."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch


def predict_labels(model: torch.nn.Module, batches: Iterable[dict]) -> tuple[np.ndarray, float]:
    """Arg-max predictions over the last axis (one per sample, or per step for synced outputs) and the mean loss
    per sample, with the model in eval mode and no gradients. The batches must come in a fixed order."""
    model.eval()
    predicted, total_loss, samples = [], 0.0, 0
    with torch.no_grad():
        for batch in batches:
            logits, loss = model(**batch)
            predicted.append(logits.argmax(-1))
            total_loss += loss.item() * len(logits)
            samples += len(logits)
    return torch.cat(predicted).numpy(), total_loss / max(samples, 1)
