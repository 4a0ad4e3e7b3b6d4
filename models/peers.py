"""The non-neural peers the networks are compared with, on the same test sets, on the pages and in the bench:
VADER and TF-IDF + linear SVM for sentiment (many to one), Apertium for translation (many to many), and a global-
motion detector for camera motion (many to many, synced). ``python -m training.peers <topology>`` scores them and
logs each as an evaluation run.

Every peer offers the same small interface: ``NAME`` (the ``peer`` param of its logged run), ``PACKAGE`` (whose
version that run logs), ``KIND`` (what sort of baseline it is), and the method of its topology's own model for the
same job: ``verdicts(texts)``, ``translate(sentences)`` or ``label_video(frames)``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from models.many_to_many_synced import CAMERA_MOTIONS
from models.tweet_text import SENTIMENT_LABELS, normalize_tweet


def logged_run(runs, peer_name: str):
    """The first of ``runs`` (store.RunSummary, from the store or the shipped bundles) that is the named peer's
    evaluation run, or None; its params hold what it chose on validation (a sentiment peer's ``threshold``)."""
    return next((run for run in runs if run.evaluation_only and run.params.get("peer") == peer_name), None)


# ---- many to one: sentiment ------------------------------------------------------------------------------------

VADER_DEFAULT_THRESHOLD = 0.05  # the authors' suggested cut: compound ≥ 0.05 is positive


class VaderPeer:
    """VADER (Hutto & Gilbert 2014, MIT), the lexicon-and-rules peer: a compound score in [-1, 1] per tweet, and a
    two-way verdict at a threshold (chosen on validation by the evaluation run). Reads the tweet as written: its
    rules use capitals, punctuation and emoji that the RNN's normalisation would erase."""

    NAME = "vaderSentiment"
    PACKAGE = "vaderSentiment"
    KIND = "lexicon baseline (rules and a sentiment lexicon; no training)"
    INPUT = "the tweet as written (mojibake repaired), without the RNN's normalisation"

    def __init__(self, threshold: float = VADER_DEFAULT_THRESHOLD):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.threshold = threshold

    def scores(self, texts: list[str]) -> np.ndarray:
        """VADER's compound score of each text, in [-1, 1]."""
        return np.array([self.analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float32)

    def verdicts(self, texts: list[str], labels: tuple[str, ...] = SENTIMENT_LABELS) -> list[str]:
        """labels[1] (positive) at or above the threshold, labels[0] below."""
        return [labels[int(score >= self.threshold)] for score in self.scores(texts)]


class TfidfPeer:
    """The strongest classical peer: TF-IDF of word 1–2-grams and of character 2–5-grams within words, fed to a
    linear SVM (scikit-learn), trained on the same tweets as the RNNs and reading them normalised the same way
    (placeholders for URLs and @mentions), so that a comparison is about the model. Its decision value is a
    signed distance from the separating plane; the verdict is positive at or above the threshold."""

    NAME = "TF-IDF + linear SVM (scikit-learn)"
    PACKAGE = "scikit-learn"
    KIND = (
        "classical baseline (TF-IDF of word 1-2-grams and character 2-5-grams, linear SVM C=0.3; trained on the "
        "training split)"
    )
    INPUT = "the tweet normalised as the RNNs read it (URL and @mention placeholders), topics not masked"

    def __init__(self, regularisation: float = 0.3, threshold: float = 0.0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"\S+"),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
        )
        self.pipeline = make_pipeline(features, LinearSVC(C=regularisation))
        self.threshold = threshold

    def fit(self, texts: list[str], targets: np.ndarray) -> "TfidfPeer":
        self.pipeline.fit([normalize_tweet(text) for text in texts], targets)
        return self

    def scores(self, texts: list[str]) -> np.ndarray:
        """The SVM's decision value of each text: its signed distance from the separating plane."""
        return self.pipeline.decision_function([normalize_tweet(text) for text in texts]).astype(np.float32)

    def verdicts(self, texts: list[str], labels: tuple[str, ...] = SENTIMENT_LABELS) -> list[str]:
        return [labels[int(score >= self.threshold)] for score in self.scores(texts)]


# ---- many to many: translation ---------------------------------------------------------------------------------
_SPACE_RUNS = re.compile(r"[ \t]+")


class ApertiumUnavailable(RuntimeError):
    """Apertium or its English–Spanish pair is not installed, or it failed; the message says what to do."""


class ApertiumPeer:
    """Apertium, the rule-based translator, run as a separate program (Debian's apertium-eng-spa)."""

    NAME = "apertium"
    PACKAGE = "apertium-eng-spa"  # a Debian package, not a Python one: its version comes from dpkg
    KIND = "rule-based translation (a separate program; no training)"
    PAIR = "eng-spa"
    INSTALL = "sudo apt-get install apertium apertium-eng-spa"

    @classmethod
    def available(cls) -> bool:
        if shutil.which("apertium") is None:
            return False
        try:
            modes = subprocess.run(["apertium", "-l"], capture_output=True, text=True, timeout=10).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return False
        return cls.PAIR in modes

    @classmethod
    def version(cls) -> str:
        """The installed apertium-eng-spa package version (Debian), or "unknown"."""
        try:
            result = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", cls.PACKAGE], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return result.stdout.strip() or "unknown"

    @classmethod
    def translate(cls, sentences: list[str], timeout: float = 120) -> list[str]:
        """Translate every sentence through one ``apertium -u eng-spa`` process, one sentence per line.

        ``-u`` drops the marks Apertium puts on unknown words; runs of spaces it leaves are collapsed (its tokens,
        such as a space before a full stop, are kept: they are part of its output)."""
        if not cls.available():
            raise ApertiumUnavailable(f"Apertium's {cls.PAIR} pair is not installed; add it with `{cls.INSTALL}`.")
        lines = [" ".join(sentence.split()) for sentence in sentences]  # a sentence must not span lines
        try:
            result = subprocess.run(
                ["apertium", "-u", cls.PAIR],
                input="\n".join(lines) + "\n",
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise ApertiumUnavailable(f"Apertium took longer than {timeout:.0f} s") from error
        outputs = result.stdout.split("\n")
        if result.returncode != 0 or len(outputs) < len(lines):
            raise ApertiumUnavailable(f"Apertium failed (exit {result.returncode}): {result.stderr.strip()[-300:]}")
        return [_SPACE_RUNS.sub(" ", line).strip() for line in outputs[: len(lines)]]


# ---- many to many, synced: camera motion -----------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalMotionPeer:
    """The classical way, no learning: estimate the global motion between frames t and t+1 by phase correlation
    (translation) and by trying a slightly scaled frame against the next (zoom), then threshold it. A cut is a
    pair of frames whose grey-level histograms differ. Frame t gets the motion from t to t+1, as in the labels; a
    mode filter over ``smooth`` frames removes single-frame flicker from hand shake. Thresholds are for 64 × 64
    frames and were set by hand on validation clips."""

    NAME = "global motion by phase correlation (OpenCV)"
    PACKAGE = "opencv-python-headless"
    KIND = "classical baseline (no training; thresholds set by hand on validation clips)"

    labels: tuple[str, ...] = CAMERA_MOTIONS
    shift_threshold: float = 0.4  # pixels per frame
    zoom_step: float = 1.03  # the scale change tried between frames
    zoom_gain: float = 0.97  # a scaled frame must match with this fraction of the error of the others
    cut_similarity: float = 0.5  # grey-level histograms that correlate less than this: a new shot
    smooth: int = 5

    def motions(self, frames: np.ndarray) -> np.ndarray:
        """(T - 1, 4) per pair of frames: dx, dy (content shift in pixels, by phase correlation), the zoom (+1 when
        frame t enlarged by ``zoom_step`` matches frame t+1 clearly better than unscaled, -1 when shrunk does, else
        0) and the grey-level histogram correlation (a cut when low)."""
        import cv2

        frames = np.asarray(frames, dtype=np.float32)
        size = frames.shape[1]
        centre = (size - 1) / 2
        inner = np.s_[size // 8 : -size // 8, size // 8 : -size // 8]  # away from borders the warps have to invent
        window = cv2.createHanningWindow((size, size), cv2.CV_32F)
        # Smoothed copies for the zoom test: interpolation smooths a warped frame, which on noisy footage would
        # otherwise make any warp match better than none.
        smooth = [cv2.GaussianBlur(f, (0, 0), 1.2) for f in frames]
        histograms = [cv2.calcHist([f], [0], None, [32], [0, 256]) for f in frames]
        result = np.zeros((max(len(frames) - 1, 0), 4), np.float32)
        for t in range(len(frames) - 1):
            (dx, dy), _ = cv2.phaseCorrelate(frames[t], frames[t + 1], window)
            errors = []
            for scale in (1 / self.zoom_step, 1.0, self.zoom_step):
                matrix = np.float32([[scale, 0, (1 - scale) * centre + dx], [0, scale, (1 - scale) * centre + dy]])
                moved = cv2.warpAffine(smooth[t], matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
                errors.append(float(np.abs(moved[inner] - smooth[t + 1][inner]).mean()))
            shrink, keep, enlarge = errors
            zoom = (
                1
                if enlarge < self.zoom_gain * min(keep, shrink)
                else -1
                if shrink < self.zoom_gain * min(keep, enlarge)
                else 0
            )
            similarity = cv2.compareHist(histograms[t], histograms[t + 1], cv2.HISTCMP_CORREL)
            result[t] = dx, dy, zoom, similarity
        return result

    def label_video(self, frames: np.ndarray) -> np.ndarray:
        """One-hot probabilities (T, C), the same interface as the networks."""
        index = {name: i for i, name in enumerate(self.labels)}
        motions = self.motions(frames)
        labels = np.full(len(frames), index["static"])
        for t, (dx, dy, zoom, _) in enumerate(motions):
            if zoom:
                labels[t] = index["zoom in" if zoom > 0 else "zoom out"]
            elif max(abs(dx), abs(dy)) > self.shift_threshold:
                # The content moves against the camera: it slides left when the camera pans right.
                if abs(dx) >= abs(dy):
                    labels[t] = index["pan right" if dx < 0 else "pan left"]
                else:
                    labels[t] = index["tilt down" if dy < 0 else "tilt up"]
        if len(motions):  # the last frame has no next one to compare with: it keeps the motion before it
            labels[-1] = labels[-2]
        labels = mode_filter(labels, self.smooth, len(self.labels))
        cuts = np.flatnonzero(motions[:, 3] < self.cut_similarity) + 1 if len(motions) else np.array([], int)
        labels[cuts] = index["cut"]
        return np.eye(len(self.labels), dtype=np.float32)[labels]


def mode_filter(labels: np.ndarray, width: int, n_classes: int) -> np.ndarray:
    """Each label replaced by the most frequent one in a centred window of ``width`` frames."""
    if width <= 1 or len(labels) < 2:
        return labels.copy()
    padded = np.pad(labels, width // 2, mode="edge")
    votes = np.stack([np.bincount(padded[t : t + width], minlength=n_classes) for t in range(len(labels))])
    return votes.argmax(1)
