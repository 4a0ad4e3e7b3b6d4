"""AppTests of the home page, the one-to-one page and the behaviour every page shares; any exception fails."""

import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from models import TOPOLOGIES, store
from models.one_to_one import preprocess_image
from tests import media
from tests.conftest import assert_no_exception, open_tab, page_texts


def test_home_lists_every_topology_and_the_champions(app):
    app.run()
    assert_no_exception(app)
    [table] = [df.value for df in app.dataframe]
    assert list(table["topology"]) == [t.title for t in TOPOLOGIES.values()]
    one_to_one = table.iloc[0]
    assert one_to_one["champion run"] in {r.run_name for r in store.shipped_bundles("one_to_one")}
    assert one_to_one["source"] == "MLflow" and one_to_one["test metric"].startswith("accuracy 0.9")


def test_one_to_one_upload_predict_compare(app):
    app.switch_page("views/one_to_one.py").run()
    assert_no_exception(app)
    assert "Upload a photo or drawing" in page_texts(app)  # no input yet: a hint, not an error
    photo, label = media.garment_photo(index=3)
    app.file_uploader[0].upload("shirt.jpg", photo, "image/jpeg").run()
    assert_no_exception(app)
    assert "inference" in page_texts(app) and "%" in page_texts(app)
    assert len(app.get("plotly_chart")) == 1  # the top-5 bars; the closed Compare tab draws nothing
    open_tab(app, "one_to_one", "Compare runs")
    assert len(app.get("plotly_chart")) >= 2  # the top-5 bars and the comparison charts
    runs_table = next(df.value for df in app.dataframe if "run" in df.value.columns)  # the test split's scoreboard
    assert {"mlp", "cnn", "row_lstm"} <= set(runs_table["run"])
    app.multiselect(key="one_to_one-compare").set_value(list(runs_table["run"])[:3]).run()
    assert_no_exception(app)
    assert app.radio(key="one_to_one-axis").set_value("wall time").run()


def test_one_to_one_test_set_example_and_every_model(app):
    app.switch_page("views/one_to_one.py").run()
    app.radio[0].set_value("Pick a test-set example").run()
    assert_no_exception(app)
    assert "true label" in page_texts(app)
    model_picker = app.selectbox(key="one_to_one-model")
    for option in model_picker.options:
        model_picker.set_value(next(r for r in model_picker.options if r == option)).run()
        assert_no_exception(app)


@pytest.mark.parametrize(
    "name, data",
    [
        ("notes.png", media.NOT_AN_IMAGE),
        ("cut.jpg", media.truncated_jpeg()),
        ("huge.png", media.huge_png_header()),
        ("tiny.png", media.one_pixel_png()),
    ],
)
def test_bad_uploads_get_a_message_and_nothing_breaks(app, name, data):
    app.switch_page("views/one_to_one.py").run()
    open_tab(app, "one_to_one", "Compare runs")
    app.file_uploader[0].upload(name, data, "image/png").run()
    assert_no_exception(app)
    assert any(name in e.value for e in app.error)
    assert [df for df in app.dataframe]  # the comparison below still renders


def png(image: Image.Image) -> bytes:
    return media.encode(image, "PNG")


@pytest.mark.parametrize(
    "name, image, notice",
    [
        ("blank.png", Image.new("RGB", (200, 200), "white"), "Nothing to classify"),
        ("pagoda.jpg", "china.jpg", "Out of domain?"),  # scikit-learn's photo of a Chinese temple
        ("flower.jpg", "flower.jpg", "Out of domain?"),
    ],
)
def test_one_to_one_says_when_an_image_is_unlike_its_garments(app, name, image, notice):
    from training.data.sources import SKLEARN_PHOTOS

    data = png(image) if isinstance(image, Image.Image) else SKLEARN_PHOTOS.path(image).read_bytes()
    app.switch_page("views/one_to_one.py").run()
    assert "one garment, light on a black background" in page_texts(app)  # what the model knows, said up front
    app.file_uploader[0].upload(name, data, "image/png").run()
    assert_no_exception(app)
    assert any(notice in warning.value for warning in app.warning), page_texts(app)


def test_one_to_one_garment_photo_gets_no_out_of_domain_notice(app):
    app.switch_page("views/one_to_one.py").run()
    photo, _ = media.garment_photo(index=3)
    app.file_uploader[0].upload("shirt.jpg", photo, "image/jpeg").run()
    assert_no_exception(app)
    assert not app.warning and "No out-of-domain notice" in page_texts(app)


def test_shipped_classifiers_carry_a_threshold_measured_on_validation_data():
    import json

    from models.one_to_one import OOD_FILE, OOD_STATISTIC

    for run in store.shipped_bundles("one_to_one"):
        calibration = json.loads((run.bundle_dir / OOD_FILE).read_text())
        assert calibration["statistic"] == OOD_STATISTIC and calibration["validation_images"] == 5000
        assert calibration["validation_flagged"] <= 0.05 and calibration["photos_flagged"] > 0.5
        assert calibration["auc"] > 0.8


def test_out_of_domain_threshold_caps_false_alarms_on_evidence(tmp_path):
    from models.one_to_one import Config, build_model
    from training.tasks.one_to_one import evidence, write_out_of_domain

    torch.manual_seed(0)
    model = build_model(Config(arch="mlp")).eval()
    validation, photos = np.random.default_rng(0).random((2, 200, 28, 28), dtype=np.float32)
    calibration = write_out_of_domain(model, tmp_path, validation, photos)
    assert (tmp_path / "out_of_domain.json").is_file()
    assert (evidence(model, validation) < calibration["threshold"]).mean() == calibration["validation_flagged"] <= 0.05


def test_one_to_one_file_name_is_shown_as_typed_never_as_markdown(app):
    from tests.test_text_input import INJECTION, live_markup

    app.switch_page("views/one_to_one.py").run()
    app.file_uploader[0].upload(f"{INJECTION}.png", media.NOT_AN_IMAGE, "image/png").run()
    assert_no_exception(app)
    [error] = app.error
    assert "click me" in error.value and "not an image" in error.value
    assert "](" not in live_markup(error.value)


def test_one_to_one_valid_but_too_large_image_says_so_with_the_limit(app):
    app.switch_page("views/one_to_one.py").run()
    app.file_uploader[0].upload("big.png", media.huge_png_header(12_000, 12_000), "image/png").run()
    assert_no_exception(app)
    [error] = app.error
    assert "too large: 144 megapixels, and the limit is 25 megapixels" in error.value
    assert "not an image we can read" not in error.value


def test_image_uploads_state_the_one_image_limit_where_the_user_uploads(app):
    from dashboard.components.media_input import MAX_IMAGE_MB

    app.switch_page("views/one_to_one.py").run()
    uploader = app.file_uploader[0].proto
    # Streamlit refuses a bigger file in the browser and its drop zone says "Limit 20MB per file".
    assert uploader.max_upload_size_mb == MAX_IMAGE_MB == 20
    assert f"up to {MAX_IMAGE_MB} MB" in uploader.help


@pytest.mark.parametrize("data", [media.animated_gif(), media.transparent_png(), media.cmyk_jpeg()])
def test_unusual_images_are_accepted_with_a_note(app, data):
    app.switch_page("views/one_to_one.py").run()
    app.file_uploader[0].upload("odd.png", data, "image/png").run()
    assert_no_exception(app)
    assert not app.error and "inference" in page_texts(app)


@pytest.mark.parametrize("problem", ["missing", "garbage"])
def test_broken_tracking_still_serves_the_shipped_models(app, problem, tmp_path, monkeypatch):
    path = tmp_path / "store.db"
    if problem == "garbage":
        path.write_bytes(b"not sqlite" * 50)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
    app.switch_page("views/one_to_one.py").run()
    app.radio[0].set_value("Pick a test-set example").run()
    assert_no_exception(app)
    assert any("Tracking is unavailable" in w.value for w in app.warning)
    assert "true label" in page_texts(app)  # predictions still come from the bundles
    app.switch_page("views/home.py").run()
    assert_no_exception(app)
    assert set(app.dataframe[0].value["source"].dropna()) == {"shipped bundle"}


def test_corrupt_checkpoint_marks_that_run_unusable(app, tmp_path, monkeypatch):
    import shutil

    shipped = tmp_path / "checkpoints"
    shutil.copytree(store.SHIPPED_DIR / "one_to_one", shipped / "one_to_one")
    champion = store.shipped_bundles("one_to_one")[0]
    (shipped / "one_to_one" / champion.bundle_dir.name / "model.safetensors").write_bytes(b"corrupt")
    monkeypatch.setattr(store, "SHIPPED_DIR", shipped)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'absent.db'}")
    app.switch_page("views/one_to_one.py").run()
    assert_no_exception(app)
    assert any("is unusable" in e.value for e in app.error)
    picker = app.selectbox(key="one_to_one-model")
    picker.set_value(picker.options[1]).run()  # another run still works
    app.radio[0].set_value("Pick a test-set example").run()
    assert_no_exception(app)
    assert not app.error and "true label" in page_texts(app)


def test_navigation_has_a_page_per_topology():
    from dashboard.navigation import topology_pages

    pages = topology_pages()
    assert list(pages) == list(TOPOLOGIES)


def test_two_sessions_predicting_at_once_both_get_answers(shipped_store):
    """The cached model is shared by sessions' threads; concurrent predictions must equal serial ones."""
    from dashboard.components.runs import load_run_model

    checkpoint = load_run_model(store.shipped_bundles("one_to_one")[0])
    photos = [preprocess_image(Image.open(io.BytesIO(media.garment_photo(i)[0]))) for i in range(8)]
    batch = torch.from_numpy(np.stack(photos))[:, None]
    expected = checkpoint.model.predict(batch)
    results = [None, None]

    def session(slot):
        results[slot] = torch.cat([checkpoint.model.predict(batch[i : i + 1]) for i in range(len(batch))])

    threads = [threading.Thread(target=session, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        assert torch.allclose(result, expected, atol=1e-5)


def test_params_that_differ_leave_out_what_a_peer_merely_lacks():
    from dashboard.components.run_comparison import differing_params

    def run(name, params, peer=False):
        return store.RunSummary(
            None, name, "FINISHED", None, None, params=params, tags={store.KIND_TAG: "evaluation"} if peer else {}
        )

    runs = [
        run("gru", {"lr": "0.003", "model.cell": "gru"}),
        run("lstm", {"lr": "0.003", "model.cell": "lstm"}),
        run("vader", {"peer": "vaderSentiment", "threshold": "0.49"}, peer=True),
    ]
    table = differing_params(runs)
    assert list(table.index) == ["model.cell", "peer", "threshold"]  # lr is shared by the trained runs
    assert table.loc["model.cell", "vader"] == "—" and table.loc["peer", "gru"] == "—"
    assert list(differing_params(runs[:1] + runs[2:]).index) == ["peer", "threshold"]


def test_comparison_defaults_to_the_selection_curve():
    from dashboard.components.run_comparison import default_curves

    run = store.RunSummary(
        None,
        "sat",
        "FINISHED",
        None,
        None,
        metrics={f"test_m{i:02d}": 0.5 for i in range(14)},
        tags={store.SELECTION_TAG: "best_val_scene_match"},
    )
    curves = ["train_loss", "val_bleu1", "val_loss", "val_scene_match"]
    assert default_curves([run], curves) == ["val_scene_match", "val_loss"]
    assert default_curves([store.RunSummary(None, "x", "FINISHED", None, None)], curves) == ["val_loss", "val_bleu1"]
    assert default_curves([run], ["train_loss"]) == ["train_loss"]
