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

    streams = reference_streams(references)
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, streams).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, streams).score}


def reference_streams(references: list[tuple[str, ...]]) -> list[list[str | None]]:
    """sacrebleu takes one stream per reference position; None marks a sentence with fewer references."""
    streams = max((len(r) for r in references), default=1)
    return [[r[i] if i < len(r) else None for r in references] for i in range(streams)]


def bleu_n_scores(hypotheses: list[str], references: list[tuple[str, ...]], max_order: int = 4) -> dict[str, float]:
    """BLEU-1 … BLEU-n as captioning papers report them (``bleu1`` … ``bleu4``, 0–100): corpus BLEU with n-grams
    up to each order, against all of a sentence's references (sacrebleu, default tokenisation)."""
    from sacrebleu.metrics import BLEU

    streams = reference_streams(references)
    return {f"bleu{n}": BLEU(max_ngram_order=n).corpus_score(hypotheses, streams).score
            for n in range(1, max_order + 1)}
