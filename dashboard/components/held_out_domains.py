"""The sentiment page's own comparison: each run on the tweet topics it never saw in training (leave one domain
out), and where the champion loses to a non-neural peer, said plainly."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components.run_comparison import NOT_APPLICABLE, RUN_COLUMN_WIDTH
from dashboard.components.runs import run_catalogue
from dashboard.components.user_text import code
from models import store


def lodo_table(runs: list[store.RunSummary], metric: str) -> pd.DataFrame:
    """Run × held-out domain: each run's ``lodo_<domain>_<metric>``, the mean last. A row per run, because run
    names are long and topics short: a column per run made the table wider than the page."""
    suffix = f"_{metric}"
    domains = sorted(
        {
            key.removeprefix("lodo_").removesuffix(suffix)
            for run in runs
            for key in run.metrics
            if key.startswith("lodo_") and key.endswith(suffix)
        }
        - {"mean"}
    )
    return pd.DataFrame(
        [[run.metrics.get(f"lodo_{domain}{suffix}") for domain in [*domains, "mean"]] for run in runs],
        index=pd.Index([run.run_name for run in runs], name="run"),
        columns=[*domains, "mean"],
    )


def standing_against_peers(runs: list[store.RunSummary]) -> str | None:
    """Where the champion loses to a peer, on the test split, leave-one-domain-out or everyday English, said
    plainly."""
    champion = next((run for run in runs if run.champion), None)
    if champion is None:
        return None
    losses = []
    for peer in (run for run in runs if run.evaluation_only):
        lost = [
            f"{name} {peer.metrics[key]:.3f} against {champion.metrics[key]:.3f}"
            for key, name in (
                ("test_accuracy", "test accuracy"),
                ("test_macro_f1", "test macro-F1"),
                ("lodo_mean_accuracy", "leave-one-domain-out accuracy"),
                ("general_mean_accuracy", "accuracy on rated English sentences that are not tweets"),
            )
            if key in peer.metrics and key in champion.metrics and peer.metrics[key] > champion.metrics[key]
        ]
        if lost:
            losses.append(
                f"{code(peer.run_name)} ({code(peer.params.get('peer', 'peer'))}) beats it: {'; '.join(lost)}"
            )
    if not losses:
        return None
    return f"The champion {code(champion.run_name)} loses to a non-neural peer here. " + " · ".join(losses) + "."


def domain_comparison() -> None:
    """The comparison's own part: where the champion loses to a peer, then how each run does on a topic it never
    saw in training."""
    every_run = run_catalogue("many_to_one").runs
    runs = [run for run in every_run if "lodo_mean_accuracy" in run.metrics]
    verdict = standing_against_peers(every_run)
    if verdict:  # its own heading: it weighs the test split and everyday English too, not only the topics below
        st.subheader("Where the champion loses to a peer")
        st.warning(verdict, icon=":material/balance:")
    st.subheader("Topics never seen in training (leave one domain out)")
    if not runs:
        st.info(
            "No run has leave-one-domain-out scores yet: `python -m training.held_out_domains "
            "--run-name RUN` adds them."
        )
        return
    metric = st.radio("Score", ["accuracy", "macro_f1"], horizontal=True, key="many_to_one-lodo-metric")
    table = lodo_table(runs, metric)
    st.dataframe(
        table.style.format("{:.3f}", na_rep=NOT_APPLICABLE).highlight_max(axis=0, color="rgba(255, 140, 0, 0.3)"),
        width="stretch",
        placeholder=NOT_APPLICABLE,
        column_config={"_index": st.column_config.TextColumn(width=RUN_COLUMN_WIDTH)},  # run names whole
    )
    seeds = {
        run.run_name: int(run.metrics["seed_tweets_correct"]) for run in runs if "seed_tweets_correct" in run.metrics
    }
    st.caption(
        "The tweets were collected around a few topics (airlines, Apple, the NFL's DeflateGate, Coachella, "
        "allergy medicine, self-driving cars), and a model can score well on them by learning the topic "
        "instead of the sentiment. Each column is a topic left out: every run's recipe trained again without a "
        "single tweet of it and scored on all of its tweets, the closest thing here to tweets about anything "
        "else; the best run of each column is shaded. The mean weighs each topic once. Of the seed's eight "
        "everyday example tweets, each run gets right: "
        + ", ".join(f"{code(name)} {correct}" for name, correct in seeds.items())
        + "."
    )
