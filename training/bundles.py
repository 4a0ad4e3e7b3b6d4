"""Shipped bundles: a finished run as a folder in git, and back into any MLflow store.

    python -m training.bundles export <run_id>   # write models/checkpoints/<topology>/<run name>/
    python -m training.bundles export <sweep run id>   # write models/sweeps/<topology>/<study>.json
    python -m training.bundles import            # load every shipped bundle and sweep into the store (idempotent)
    python -m training.bundles table             # the shipped runs' test metrics, as Markdown

A bundle holds the checkpoint (``model.json``, ``model.safetensors``, tokenizer files), ``run.json`` (params, tags,
the full metric history, start and end times), and small report artefacts. No absolute path is stored: the
store that imports a bundle decides where its artifacts live. A sweep bundle (models.sweep_store) is one JSON file:
the sweep run's and every trial's record, without checkpoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param

from models import store, sweep_store
from training import tracking

# Tags that describe where a run was made, kept in the bundle; MLflow's own bookkeeping tags are not.
KEPT_TAG_PREFIXES = ("rnnlab.", "mlflow.source.git.commit", "mlflow.note.content")
# Small artifacts that travel with a bundle: report data and the dataset card. Plotly HTML figures stay behind:
# they load plotly.js from a CDN, so they are blank offline, and the data they plot travels as JSON.
SHIPPED_ARTIFACT_SUFFIXES = (".json", ".md", ".txt")


def export_bundle(run_id: str, destination_root: Path = store.SHIPPED_DIR) -> Path:
    client = store.client()
    run = client.get_run(run_id)
    topology = run.data.tags.get(store.TOPOLOGY_TAG)
    if not topology:
        raise SystemExit(f"run {run_id} has no rnnlab.topology tag: it was not made by training.train")
    if run.info.status != "FINISHED":
        raise SystemExit(f"run {run_id} is {run.info.status}; only finished runs are shipped")
    folder = Path(destination_root) / topology / run.info.run_name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    artifacts = []  # run artifacts other than the checkpoint, by their path in the run
    with tempfile.TemporaryDirectory() as scratch:
        if run.data.tags.get(store.KIND_TAG) != "evaluation":
            downloaded = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=store.CHECKPOINT_ARTIFACT,
                dst_path=scratch,
                tracking_uri=store.tracking_uri(),
            )
            shutil.copytree(downloaded, folder, dirs_exist_ok=True)
        logged = [client.list_artifacts(run_id, folder) for folder in (None, "report", store.MEMORY_DIR)]
        for artifact in [artifact for listed in logged for artifact in listed]:
            if not artifact.is_dir and artifact.path.endswith(SHIPPED_ARTIFACT_SUFFIXES):
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=artifact.path, dst_path=scratch, tracking_uri=store.tracking_uri()
                )
                (folder / artifact.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(local, folder / artifact.path)
                artifacts.append(artifact.path)
    history = {
        key: [[m.step, m.value, m.timestamp] for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
    }
    record = {
        "run_name": run.info.run_name,
        "topology": topology,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "tags": {
            k: v
            for k, v in run.data.tags.items()
            if k.startswith(KEPT_TAG_PREFIXES) and k not in (store.BUNDLE_TAG, store.IMPORTED_TAG)
        },
        "metrics": history,
        "artifacts": sorted(artifacts),
    }
    (folder / store.BUNDLE_RUN_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
    client.set_tag(run_id, store.BUNDLE_TAG, store.bundle_key(folder))  # so importing it back here adds nothing
    return folder


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_recorded_run(client, experiment_id: str, record: dict, tags: dict[str, str]) -> str:
    """A run with a record's name, start time, tags (plus ``tags``), params and metric history; left RUNNING."""
    run = client.create_run(
        experiment_id,
        run_name=record["run_name"],
        start_time=record.get("start_time"),
        tags={**record.get("tags", {}), **tags},
    )
    run_id = run.info.run_id
    params = [Param(k, str(v)) for k, v in record.get("params", {}).items()]
    metrics = [
        Metric(key, value, timestamp, step)
        for key, points in record.get("metrics", {}).items()
        for step, value, timestamp in points
    ]
    for chunk in _chunks(params, 100):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metrics, 1000):
        client.log_batch(run_id, metrics=chunk)
    return run_id


def imports_of_folder(client, experiment_id: str, key: str, start_time: int | None) -> tuple[str | None, list[str]]:
    """The run this store made from this very bundle (None if none), and the runs it made from the same folder
    (``<topology>/<run name>``) in an older state: those marked IMPORTED_TAG, and, from before imports were
    marked, those of the same source run (the bundle's ``start_time``) under an older key that were not trained
    here (only training leaves a resume state; a bundle never carries one). A run trained in this store and
    exported to that folder is neither, whatever its name."""
    folder_key = key.rsplit("@", 1)[0]
    # A quote, "%" or backslash of the name becomes LIKE's one-character wildcard "_" (so no name breaks the
    # filter), and "_" matches any character: the exact folder is kept after.
    pattern = "".join("_" if c in "'\"\\%" else c for c in folder_key)
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{store.BUNDLE_TAG}` LIKE '{pattern}@%'")
    same_folder = [run for run in runs if run.data.tags[store.BUNDLE_TAG].rsplit("@", 1)[0] == folder_key]
    current = next((run.info.run_id for run in same_folder if run.data.tags[store.BUNDLE_TAG] == key), None)
    earlier = [
        run.info.run_id
        for run in same_folder
        if run.info.run_id != current
        and (
            store.IMPORTED_TAG in run.data.tags
            or (
                start_time is not None
                and run.info.start_time == start_time
                and not client.list_artifacts(run.info.run_id, tracking.RESUME_FOLDER)
            )
        )
    ]
    return current, earlier


def import_bundle(folder: Path) -> str | None:
    """Create the bundle's run in the store unless it is there already; returns the new run id or None. An earlier
    import of the same folder (before the bundle was exported again with new metrics, or retrained) is the same
    shipped run in an older state: it is retired (training.tracking.replace_run), so the store lists each shipped
    run once and the champion rule does not weigh it twice; a store that already holds both is mended the same
    way on its next import."""
    client = store.client()
    record = json.loads((folder / store.BUNDLE_RUN_FILE).read_text())
    topology = record["topology"]
    experiment_id = tracking.ensure_experiment(topology)
    key = store.bundle_key(folder)
    current, earlier = imports_of_folder(client, experiment_id, key, record.get("start_time"))
    run_id = current or _create_from_bundle(client, experiment_id, folder, record, key)
    for old_run_id in earlier:  # after the new one is registered, so that it can take a champion alias an old one held
        tracking.replace_run(topology, old_run_id, run_id)
    return None if current else run_id


def _create_from_bundle(client, experiment_id: str, folder: Path, record: dict, key: str) -> str:
    """The bundle's run, with its checkpoint and artifacts, registered (and crowned if it is the best)."""
    run_id = _create_recorded_run(client, experiment_id, record, {store.BUNDLE_TAG: key, store.IMPORTED_TAG: "true"})
    # The checkpoint is every top-level file but run.json and the run's other artifacts, which run.json lists.
    artifacts = set(record.get("artifacts", []))
    checkpoint_files = [
        p for p in folder.iterdir() if p.is_file() and p.name != store.BUNDLE_RUN_FILE and p.name not in artifacts
    ]
    with tempfile.TemporaryDirectory() as scratch:
        if checkpoint_files:
            staging = Path(scratch) / store.CHECKPOINT_ARTIFACT
            staging.mkdir()
            for path in checkpoint_files:
                shutil.copy(path, staging / path.name)
            client.log_artifacts(run_id, str(staging), store.CHECKPOINT_ARTIFACT)
    for relative in sorted(artifacts):
        parent = str(Path(relative).parent)
        client.log_artifact(run_id, str(folder / relative), None if parent == "." else parent)
    client.set_terminated(run_id, record.get("status", "FINISHED"), end_time=record.get("end_time"))
    if checkpoint_files:
        tracking.register_and_crown(record["topology"], run_id)
    return run_id


def import_all(root: Path = store.SHIPPED_DIR) -> list[str]:
    tracking.set_tracking()
    folders = sorted(p.parent for p in Path(root).glob(f"*/*/{store.BUNDLE_RUN_FILE}"))
    created = [run_id for run_id in map(import_bundle, folders) if run_id]
    print(f"bundles: {len(folders)} shipped, {len(created)} imported into {store.tracking_uri()}", file=sys.stderr)
    import_sweeps(Path(root).parent / sweep_store.SWEEPS_DIR.name)
    return created


def export_sweep(parent_run_id: str, root: Path = sweep_store.SWEEPS_DIR) -> Path:
    """A finished sweep as ``<root>/<topology>/<study>.json``: the sweep run's and its trials' params, kept tags and
    full metric histories; no checkpoint, so its trials ship as results only."""
    client = store.client()
    parent, trials = sweep_store.sweep_runs(client, parent_run_id)
    if parent.data.tags.get(store.KIND_TAG) != sweep_store.SWEEP_KIND or parent.info.status != "FINISHED":
        raise SystemExit(f"run {parent_run_id} is not a finished sweep run")

    def shipped(run) -> dict:
        record = sweep_store.run_record(client, run)
        record["tags"] = {
            k: v
            for k, v in record["tags"].items()
            if k.startswith(KEPT_TAG_PREFIXES)
            and k not in (store.BUNDLE_TAG, store.IMPORTED_TAG, store.CHECKPOINT_BYTES_TAG, store.PROCESS_TAG)
        }
        return record

    bundle = {"format": sweep_store.BUNDLE_FORMAT, "parent": shipped(parent), "trials": list(map(shipped, trials))}
    path = Path(root) / parent.data.tags[store.TOPOLOGY_TAG] / f"{parent.data.tags[sweep_store.STUDY_TAG]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bundle, sort_keys=True, separators=(",", ":")))
    return path


def import_sweep(path: Path) -> str | None:
    """Create a sweep bundle's sweep run and trial runs unless the store has them; returns the new sweep run id. As
    for a run's bundle, an earlier import of the same file (exported again since) is retired: the old sweep run and
    its trials are deleted (MLflow's soft delete)."""
    client = store.client()
    bundle = json.loads(path.read_text())
    topology = bundle["parent"]["tags"][store.TOPOLOGY_TAG]
    experiment_id = tracking.ensure_experiment(topology, sweep_store.SWEEP_SUFFIX)
    key = f"{topology}/{path.name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    current, earlier = imports_of_folder(client, experiment_id, key, bundle["parent"].get("start_time"))
    parent_id = current or _create_sweep(client, experiment_id, bundle, key)
    for old_parent_id in earlier:
        _, trials = sweep_store.sweep_runs(client, old_parent_id)
        for trial in trials:
            client.delete_run(trial.info.run_id)
        client.delete_run(old_parent_id)
    return None if current else parent_id


def _create_sweep(client, experiment_id: str, bundle: dict, key: str) -> str:
    parent_id = _create_recorded_run(
        client, experiment_id, bundle["parent"], {store.BUNDLE_TAG: key, store.IMPORTED_TAG: "true"}
    )
    for record in bundle["trials"]:
        run_id = _create_recorded_run(client, experiment_id, record, {sweep_store.PARENT_TAG: parent_id})
        client.set_terminated(run_id, record["status"], end_time=record.get("end_time"))
    client.set_terminated(parent_id, bundle["parent"]["status"], end_time=bundle["parent"].get("end_time"))
    return parent_id


def import_sweeps(root: Path = sweep_store.SWEEPS_DIR) -> list[str]:
    paths = sorted(Path(root).glob("*/*.json"))
    created = [run_id for run_id in map(import_sweep, paths) if run_id]
    print(f"sweeps: {len(paths)} shipped, {len(created)} imported into {store.tracking_uri()}", file=sys.stderr)
    return created


def results_table(root: Path = store.SHIPPED_DIR) -> str:
    """The shipped runs as a Markdown table: test metrics, parameters and training time, from their bundles."""
    lines = [
        "| topology | run | champion | test metrics | params | epochs | train time |",
        "|---|---|---|---|---|---|---|",
    ]
    for topology in sorted({p.parent.parent.name for p in Path(root).glob(f"*/*/{store.BUNDLE_RUN_FILE}")}):
        for run in store.shipped_bundles(topology):
            record = json.loads((run.bundle_dir / store.BUNDLE_RUN_FILE).read_text())
            tests = ", ".join(
                f"{k.removeprefix('test_')} {v:.4f}"
                for k, v in sorted(run.metrics.items())
                if k.startswith("test_") and k != "test_loss"
            )
            epochs = record["metrics"].get("epoch_seconds", [])
            seconds = sum(value for _, value, _ in epochs)
            lines.append(
                f"| {topology} | {run.run_name} | {'yes' if run.champion else ''} | {tests} | "
                f"{run.params.get('model.parameters', '—')} | {len(epochs) or '—'} | "
                f"{f'{seconds / 60:.1f} min' if epochs else 'no training'} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m training.bundles", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a finished run (or sweep) as a bundle")
    export.add_argument("run_id", nargs="+")
    commands.add_parser("import", help="import every shipped bundle that is not in the store yet")
    commands.add_parser("table", help="print the shipped runs and their test metrics as a Markdown table")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(results_table())
    elif args.command == "export":
        tracking.set_tracking()
        for run_id in args.run_id:
            kind = store.client().get_run(run_id).data.tags.get(store.KIND_TAG)
            print(export_sweep(run_id) if kind == sweep_store.SWEEP_KIND else export_bundle(run_id))
    else:
        import_all()


if __name__ == "__main__":
    main()
