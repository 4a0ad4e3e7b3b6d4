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


def out_of_domain_threshold(in_domain: np.ndarray, out_of_domain: np.ndarray, false_alarms: float = 0.05) -> dict:
    """The threshold on a statistic (higher = less like the training data) above which an input is flagged: the
    value that only ``false_alarms`` of held-out in-domain inputs exceed (a notice that fires on many good inputs
    would be ignored), with the share of out-of-domain inputs it catches and the statistic's AUC, both measured,
    so a page can say how good the notice is."""
    threshold = float(np.quantile(in_domain, 1 - false_alarms, method="higher"))
    above = out_of_domain[:, None] > in_domain[None, :]
    ties = out_of_domain[:, None] == in_domain[None, :]
    return {
        "threshold": threshold,
        "in_domain_flagged": float((in_domain > threshold).mean()),
        "out_of_domain_flagged": float((out_of_domain > threshold).mean()),
        "auc": float(above.mean() + 0.5 * ties.mean()),
    }
