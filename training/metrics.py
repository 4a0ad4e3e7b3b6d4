"""Classification metrics shared by the tasks, on plain integer label arrays."""

from __future__ import annotations

import numpy as np

from models.sequences import segments


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
    return {
        "accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }


def per_set_and_mean(per_set: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each set's scores as ``<set>_<metric>``, and ``mean_<metric>`` of each metric every set has: each set counts
    once, whatever its size."""
    result = {f"{name}_{metric}": value for name, scores in per_set.items() for metric, value in scores.items()}
    shared = set.intersection(*(set(scores) for scores in per_set.values())) if per_set else set()
    for metric in sorted(shared):
        result[f"mean_{metric}"] = float(np.mean([scores[metric] for scores in per_set.values()]))
    return result


def confusion_report(
    targets: np.ndarray, predictions: np.ndarray, labels: tuple[str, ...], title: str = "Confusion matrix (test)"
) -> dict[str, object]:
    """The test-time report artefacts of a classifier: the confusion matrix as a figure and as data."""
    matrix = confusion_matrix(targets, predictions, len(labels))
    return {
        "confusion_matrix": confusion_figure(matrix, labels, title),
        "confusion_matrix_data": {"labels": list(labels), "matrix": matrix.tolist()},
    }


def confusion_figure(matrix: np.ndarray, labels: tuple[str, ...], title: str = "Confusion matrix (test)"):
    import plotly.graph_objects as go

    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(labels),
            y=list(labels),
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
        )
    )
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return figure


def edit_score(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Segmental edit score (Lea et al., 2017): 1 - Levenshtein distance between the two sequences of segment
    labels / the longer one's length. Penalises over-segmentation (flicker) that frame accuracy barely sees."""
    a = [label for label, _, _ in segments(targets)]
    b = [label for label, _, _ in segments(predictions)]
    if not a and not b:
        return 1.0
    distance = np.arange(len(b) + 1)
    for i, label in enumerate(a, 1):
        previous, distance[0] = distance.copy(), i
        for j in range(1, len(b) + 1):
            distance[j] = min(previous[j] + 1, distance[j - 1] + 1, previous[j - 1] + (label != b[j - 1]))
    return float(1 - distance[-1] / max(len(a), len(b)))


def segment_matches(targets: np.ndarray, predictions: np.ndarray, overlap: float) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of predicted segments at an IoU threshold, as in the
    F1@k of temporal action segmentation (MS-TCN): a predicted segment is a hit when it overlaps a not yet matched
    true segment of its label with IoU ≥ overlap."""
    truth, predicted = segments(targets), segments(predictions)
    matched = np.zeros(len(truth), dtype=bool)
    hits = 0
    for label, start, end in predicted:
        best, best_iou = -1, 0.0
        for index, (true_label, true_start, true_end) in enumerate(truth):
            if true_label != label:
                continue
            intersection = min(end, true_end) - max(start, true_start)
            iou = intersection / (max(end, true_end) - min(start, true_start)) if intersection > 0 else 0.0
            if iou > best_iou:
                best, best_iou = index, iou
        if best >= 0 and best_iou >= overlap and not matched[best]:
            matched[best] = True
            hits += 1
    return hits, len(predicted) - hits, len(truth) - hits


def segmentation_scores(
    targets: list[np.ndarray], predictions: list[np.ndarray], overlaps: tuple[float, ...] = (0.1, 0.25, 0.5)
) -> dict[str, float]:
    """Segment-level scores over many sequences: mean edit score, and F1@k from matches pooled over sequences
    (keys ``edit_score``, ``f1_10``, ``f1_25``, ``f1_50``)."""
    scores = {"edit_score": float(np.mean([edit_score(t, p) for t, p in zip(targets, predictions)]))}
    for overlap in overlaps:
        tp, fp, fn = np.sum([segment_matches(t, p, overlap) for t, p in zip(targets, predictions)], axis=0)
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        scores[f"f1_{round(overlap * 100)}"] = float(2 * precision * recall / (precision + recall)) if tp else 0.0
    return scores


def translation_scores(hypotheses: list[str], references: list[tuple[str, ...]]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, default tokenisation) of each hypothesis against all of its references
    (sentences may have different numbers of references), and BLEU against the first reference alone
    (``bleu_single``): a sentence with more references finds more n-grams to match, so only the single-reference
    score compares with a test set that has one translation per sentence."""
    import sacrebleu

    streams = reference_streams(references)
    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, streams).score,
        "bleu_single": sacrebleu.corpus_bleu(hypotheses, streams[:1]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, streams).score,
    }


def translation_scores_by_length(
    sources: list[str], hypotheses: list[str], references: list[tuple[str, ...]]
) -> dict[str, float]:
    """translation_scores overall and per source-length bucket (``len_7_10_bleu`` …), with each bucket's number
    of sentences (``len_7_10_sentences``); an empty bucket gets only its count."""
    from models.many_to_many import LENGTH_BUCKETS, length_bucket

    scores = translation_scores(hypotheses, references)
    buckets = [length_bucket(len(source.split())) for source in sources]
    for name in LENGTH_BUCKETS:
        rows = [i for i, bucket in enumerate(buckets) if bucket == name]
        scores[f"{name}_sentences"] = float(len(rows))
        if rows:
            bucket_scores = translation_scores([hypotheses[i] for i in rows], [references[i] for i in rows])
            scores.update({f"{name}_{metric}": value for metric, value in bucket_scores.items()})
    return scores


def reference_streams(references: list[tuple[str, ...]]) -> list[list[str | None]]:
    """sacrebleu takes one stream per reference position; None marks a sentence with fewer references."""
    streams = max((len(r) for r in references), default=1)
    return [[r[i] if i < len(r) else None for r in references] for i in range(streams)]


def bleu_n_scores(hypotheses: list[str], references: list[tuple[str, ...]], max_order: int = 4) -> dict[str, float]:
    """BLEU-1 … BLEU-n as captioning papers report them (``bleu1`` … ``bleu4``, 0–100): corpus BLEU with n-grams
    up to each order, against all of a sentence's references (sacrebleu, default tokenisation)."""
    from sacrebleu.metrics import BLEU

    streams = reference_streams(references)
    return {
        f"bleu{n}": BLEU(max_ngram_order=n).corpus_score(hypotheses, streams).score for n in range(1, max_order + 1)
    }
