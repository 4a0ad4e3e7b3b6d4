"""Served models: a registered run's pyfunc model answers MLflow's scoring protocol with real predictions, over REST
from `mlflow models serve` (tweets) and through the same scoring code in-process (the other topologies), and a
malformed request gets a 4xx with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow.pyfunc
import pytest
from mlflow.pyfunc import scoring_server

from models import serving, store
from training import bundles, servers, tracking

SERVE_TIMEOUT_S = 240  # mlflow models serve imports mlflow, torch and the model: a minute on a loaded 2-core box


def import_champion(topology: str) -> str:
    """The shipped champion of a topology imported (and so registered and crowned); its run id."""
    tracking.set_tracking()
    return bundles.import_bundle(store.shipped_bundles(topology)[0].bundle_dir)


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def invoke(model, body: dict | str) -> tuple[int, dict]:
    """The scoring server's own request handling, without the HTTP server around it."""
    from mlflow.exceptions import MlflowException

    data = body if isinstance(body, str) else json.dumps(body)
    try:
        answer = scoring_server.invocations(data, "application/json", model, model.metadata.get_input_schema())
    except MlflowException as error:
        return error.get_http_status_code(), json.loads(error.serialize_as_json())
    return answer.status, json.loads(answer.response)


@pytest.fixture
def served_tweets(tracking_store):
    """`mlflow models serve` of the many-to-one champion, by its registry alias, on a free loopback port."""
    import_champion("many_to_one")
    port = servers.free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/rnnlab-many_to_one@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # MLflow starts `uvicorn` by name: the virtual environment's bin must come first on the PATH.
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_store,
            "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"mlflow models serve did not answer in {SERVE_TIMEOUT_S} s"
                time.sleep(0.5)
        yield url
    finally:
        servers.stop_process_group(process, signal.SIGTERM)


def test_the_served_champion_labels_tweets_over_rest(served_tweets):
    tweets = ["What a lovely flight, the crew were wonderful!", "Lost my bag again, worst airline ever."]
    status, answer = post(
        f"{served_tweets}/invocations", json.dumps({"dataframe_records": [{"text": text} for text in tweets]}).encode()
    )
    assert status == 200, answer
    rows = answer["predictions"]
    assert [row["label"] for row in rows] == ["positive", "negative"]
    assert all(abs(row["probability_negative"] + row["probability_positive"] - 1) < 1e-5 for row in rows)

    for body, reason in (
        (b'{"dataframe_records": [{"tweet": "hi"}]}', "text"),  # a column the model lacks
        (b'{"dataframe_records": [{"text": "   "}]}', "non-empty string"),
        (b'{"dataframe_records": [', ""),
    ):  # not JSON
        status, answer = post(f"{served_tweets}/invocations", body)
        assert 400 <= status < 500 and reason in answer.get("message", ""), (body, status, answer)


@pytest.mark.parametrize(
    "topology, request_rows, check",
    [
        ("many_to_many", [{"text": "I like to read books."}], lambda row: "libros" in row["translation"]),
        ("one_to_many", serving.input_example("one_to_many").to_dict("records"), lambda row: row["caption"]),
    ],
)
def test_a_registered_champion_answers_the_scoring_protocol(tracking_store, topology, request_rows, check):
    import_champion(topology)
    model = mlflow.pyfunc.load_model(f"models:/{store.registered_model_name(topology)}@{store.CHAMPION_ALIAS}")
    status, answer = invoke(model, {"dataframe_records": request_rows})
    assert status == 200 and check(answer["predictions"][0]), answer


@pytest.mark.parametrize(
    "topology", ["many_to_one", "many_to_many", "one_to_one", "one_to_many", "many_to_many_synced"]
)
def test_each_topology_answers_its_example_with_its_signature(tmp_path, topology):
    checkpoint = store.shipped_bundles(topology)[0].bundle_dir
    path = serving.save_served_model(checkpoint, tmp_path / "model", store.REPO_ROOT / "requirements.txt")
    model = mlflow.pyfunc.load_model(str(path))
    answer = model.predict(serving.input_example(topology))
    assert list(answer.columns) == model.metadata.get_output_schema().input_names()
    assert answer.notna().all().all() and len(answer) == len(serving.input_example(topology))


@pytest.mark.parametrize(
    "topology, row, reason",
    [
        ("one_to_one", {"image": "not base64!"}, "base64"),
        ("one_to_one", {"image": "aGVsbG8="}, "not an image"),  # base64 of "hello"
        ("many_to_many_synced", {"video": "aGVsbG8="}, "row 0"),
        ("many_to_many_synced", {"path": "/nonexistent/clip.mp4"}, "not a file the server can read"),
        ("many_to_many_synced", {}, "send rows with video or path"),
        ("many_to_many_synced", {"video": None, "path": None}, "give video"),
    ],
)
def test_unreadable_inputs_get_a_400_with_the_reason(tmp_path, topology, row, reason):
    checkpoint = store.shipped_bundles(topology)[0].bundle_dir
    model = mlflow.pyfunc.load_model(
        str(serving.save_served_model(checkpoint, tmp_path / "model", store.REPO_ROOT / "requirements.txt"))
    )
    status, answer = invoke(model, {"dataframe_records": [row]})
    assert status == 400 and reason in answer["message"], answer
