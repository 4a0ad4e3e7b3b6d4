"""Classification metrics shared by the tasks, on plain integer label arrays."""
from __future__ import annotations

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (true class, predicted class)."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets), np.asarray(predictions)), 1)
    return matrix


def classification_scores(targets: np.ndarray, predictions: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (each class's F1 averaged with equal weight, so a majority guess scores poorly)."""
    matrix = confusion_matrix(targets, predictions, n_classes)
    true_positive = np.diag(matrix).astype(float)
    precision = np.divide(true_positive, matrix.sum(0), out=np.zeros(n_classes), where=matrix.sum(0) > 0)
    recall = np.divide(true_positive, matrix.sum(1), out=np.zeros(n_classes), where=matrix.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=precision + recall > 0)
    present = matrix.sum(1) > 0
    return {"accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0}


def confusion_figure(matrix: np.ndarray, labels: tuple[str, ...], title: str = "Confusion matrix (test)"):
    import plotly.graph_objects as go

    figure = go.Figure(go.Heatmap(z=matrix, x=list(labels), y=list(labels), colorscale="Blues",
                                  text=matrix, texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}"
                                  "<br>%{z} samples<extra></extra>"))
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return figure


def translation_scores(hypotheses: list[str], references: list[tuple[str, ...]]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, default tokenisation) of each hypothesis against all of its references;
    sentences may have different numbers of references."""
    import sacrebleu

    streams = max((len(r) for r in references), default=1)
    # sacrebleu takes one stream per reference position; None marks a sentence with fewer references.
    reference_streams = [[r[i] if i < len(r) else None for r in references] for i in range(streams)]
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, reference_streams).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, reference_streams).score}
