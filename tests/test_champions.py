"""The champion rule: only comparable runs compete (same topology, data set and selection metric); dry runs and
tiny validation sets are never crowned automatically; a promotion by hand wins. A bring-your-own-data run beside
the shipped scene runs leaves the scene champion in place, and the captioning page labels each run's data set."""

import json

import pytest
import streamlit as st
from mlflow import MlflowClient
from streamlit.testing.v1 import AppTest

from models import store, sweep_store
from tests.conftest import REPO_ROOT, assert_no_exception
from tests.test_one_to_many import flickr_run
from training import bundles, tracking, train
from training.tasks.one_to_many import FLICKR_SETTINGS, SCENE_SETTINGS

TOPOLOGY = "one_to_many"


def logged_run(
    client: MlflowClient,
    name: str,
    metric: str,
    score: float,
    dataset: str | None = None,
    val_examples: int = 500,
    dry_run: bool = False,
) -> str:
    """A finished trained run as training.train logs one, without training it."""
    tags = {
        store.KIND_TAG: "trained",
        store.SELECTION_TAG: metric,
        store.VAL_EXAMPLES_TAG: str(val_examples),
        store.DRY_RUN_TAG: str(dry_run).lower(),
        store.CHECKPOINT_BYTES_TAG: "1024",
        **({store.DATASET_TAG: dataset} if dataset else {}),
    }
    run_id = client.create_run(tracking.ensure_experiment(TOPOLOGY), run_name=name, tags=tags).info.run_id
    client.log_metric(run_id, metric, score)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def champion(dataset: str = store.BUILTIN_DATASET) -> str | None:
    return store.champion_run_id(TOPOLOGY, dataset=dataset)


def test_only_comparable_runs_compete_and_a_promotion_by_hand_wins(tracking_store):
    client = MlflowClient(tracking_store)
    photos = "flickr8k@0123456789ab"
    scenes = logged_run(client, "scenes", "best_val_scene_match", 0.94)
    assert tracking.register_and_crown(TOPOLOGY, scenes)[0] and champion() == scenes

    first = logged_run(client, "photos", "best_val_bleu4", 25.8, photos)  # a bigger number, another metric
    assert tracking.register_and_crown(TOPOLOGY, first) == (
        True,
        f"champion of {photos} data (champion-flickr8k-0123456789ab)",
    )
    assert champion() == scenes and champion(photos) == first

    better = logged_run(client, "photos-better", "best_val_bleu4", 30.1, photos)
    worse = logged_run(client, "photos-worse", "best_val_bleu4", 20.0, photos)
    assert tracking.register_and_crown(TOPOLOGY, better)[0]
    assert tracking.register_and_crown(TOPOLOGY, worse) == (
        False,
        f"photos-better stays best on {photos} data by best_val_bleu4",
    )
    assert champion(photos) == better and champion() == scenes

    other_metric = logged_run(client, "photos-bleu1", "best_val_bleu1", 60.0, photos)
    crowned, why = tracking.register_and_crown(TOPOLOGY, other_metric)
    assert not crowned and "selected on best_val_bleu4" in why and champion(photos) == better

    assert tracking.promote(TOPOLOGY, worse) == "champion-flickr8k-0123456789ab"
    best_yet = logged_run(client, "photos-best", "best_val_bleu4", 40.0, photos)
    assert tracking.register_and_crown(TOPOLOGY, best_yet) == (
        False,
        f"best on validation, but run {worse} was made champion by hand",
    )
    assert champion(photos) == worse

    unfinished = client.create_run(tracking.ensure_experiment(TOPOLOGY), run_name="unfinished").info.run_id
    with pytest.raises(SystemExit, match="only a finished trained run can"):
        tracking.promote(TOPOLOGY, unfinished)
    client.delete_run(better)  # "Restore previous" may name a run deleted since
    with pytest.raises(SystemExit, match="was deleted and cannot be champion"):
        tracking.promote(TOPOLOGY, better)
    assert champion(photos) == worse


def test_a_shipped_sweep_trial_without_a_checkpoint_is_refused(tracking_store):
    tracking.set_tracking()
    [bundle] = sorted((sweep_store.SWEEPS_DIR / "many_to_one").glob("*.json"))
    bundles.import_sweep(bundle)
    [sweep] = sweep_store.list_sweeps("many_to_one")
    best = sweep.best_trial
    assert MlflowClient(tracking_store).get_run(best.run_id).info.status == "FINISHED"
    with pytest.raises(SystemExit, match="it kept no checkpoint to serve"):
        tracking.promote("many_to_one", best.run_id)
    assert store.champion_run_id("many_to_one") is None


@pytest.mark.parametrize(
    "kind, reason",
    [
        ({"val_examples": 3}, "its validation set has 3 examples, fewer than the 200 a champion needs"),
        ({"dry_run": True}, "it is a dry run"),
    ],
)
def test_dry_runs_and_tiny_validation_sets_are_never_crowned_automatically(tracking_store, kind, reason):
    client = MlflowClient(tracking_store)
    scenes = logged_run(client, "scenes", "best_val_scene_match", 0.5)
    tracking.register_and_crown(TOPOLOGY, scenes)
    tiny = logged_run(client, "tiny", "best_val_scene_match", 0.99, **kind)
    assert tracking.register_and_crown(TOPOLOGY, tiny) == (False, f"not crowned automatically: {reason}")
    assert champion() == scenes
    assert store.best_on_validation(store.list_runs(TOPOLOGY)).run_id == scenes  # the shipped bundles' rule too


def test_a_dry_run_says_why_it_is_not_champion(tracking_store, capsys):
    train.main(["one_to_one", "--dry-run", "--set", "model.arch=mlp"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["champion"] is False and summary["champion_rule"] == "not crowned automatically: it is a dry run"
    assert store.champion_run_id("one_to_one") is None


@pytest.fixture
def scene_runs_and_a_flickr_run(tracking_store, tmp_path, capsys):
    """The shipped scene runs and, beside them, a (tiny) bring-your-own-data run as docs/one_to_many.md shows it."""
    for folder in sorted((store.SHIPPED_DIR / TOPOLOGY).iterdir()):
        bundles.import_bundle(folder)
    scene_champion = champion()
    settings = ("epochs=1", "max_batches=1", "threads=1", "model.image_size=32", "model.hidden_size=32")
    run_id = train.main(
        [*flickr_run(tmp_path / "flickr", *settings, "model.channels=8,8,8,16"), "--run-name", "byod-test"]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return scene_champion, run_id, summary


def test_a_flickr_run_beside_the_scene_runs_leaves_the_scene_champion(scene_runs_and_a_flickr_run):
    scene_champion, run_id, summary = scene_runs_and_a_flickr_run
    shipped = next(run for run in store.shipped_bundles(TOPOLOGY) if run.champion)
    assert next(r for r in store.list_runs(TOPOLOGY) if r.run_id == scene_champion).run_name == shipped.run_name
    assert champion() == scene_champion
    assert summary["champion"] is False
    assert summary["champion_rule"].startswith("not crowned automatically: its validation set has 1 examples")
    run = MlflowClient().get_run(run_id)
    assert run.data.tags[store.DATASET_TAG].startswith("flickr8k@")
    assert not set(run.data.params) & SCENE_SETTINGS  # the scene settings a Flickr run never used
    assert FLICKR_SETTINGS <= set(run.data.params)


def test_the_captioning_page_serves_the_scene_champion_and_labels_each_runs_data(scene_runs_and_a_flickr_run):
    scene_champion, run_id, _ = scene_runs_and_a_flickr_run
    st.cache_data.clear()
    st.cache_resource.clear()
    page = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120)
    page.switch_page("views/one_to_many.py").run()
    assert_no_exception(page)
    picker = page.selectbox(key="one_to_many-model")
    dataset = MlflowClient().get_run(run_id).data.tags[store.DATASET_TAG]
    assert picker.value.run_id == scene_champion
    assert picker.options[0].endswith(" · generated scenes · champion")
    [flickr] = [option for option in picker.options if option.startswith("byod-test")]
    assert flickr.endswith(f" · {dataset}") and picker.options[-1] == flickr  # grouped after the page's data
    picker.select_index(picker.options.index(flickr)).run()
    assert_no_exception(page)
    assert page.selectbox(key="one_to_many-model").value.run_id == run_id  # selectable
