"""Out-of-domain thresholds measured on data and shipped beside a checkpoint (``out_of_domain.json``), read once."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from models import store


@st.cache_resource(show_spinner=False)
def calibration_in(directory: str, file_name: str, statistic: str, bundle: str | None = None) -> dict | None:
    """The calibration in ``directory/file_name``, else in the shipped bundle the run was imported from
    (``bundle``: its rnnlab.bundle tag), whose weights are the same: a store filled before the threshold was
    measured has no copy. None where there is none, and where it was measured on another statistic than
    ``statistic``, the one the page computes."""
    places = [Path(directory)]
    if bundle:
        shipped = store.SHIPPED_DIR / bundle.split("@")[0]
        if (shipped / store.BUNDLE_RUN_FILE).is_file() and store.bundle_key(shipped) == bundle:
            places.append(shipped)
    for place in places:
        if (place / file_name).is_file():
            calibration = json.loads((place / file_name).read_text())
            return calibration if calibration.get("statistic") == statistic else None
    return None


def out_of_domain_calibration(checkpoint, run: store.RunSummary, file_name: str, statistic: str) -> dict | None:
    """The out-of-domain calibration of the model a page has picked (see calibration_in)."""
    return calibration_in(str(checkpoint.directory), file_name, statistic, run.tags.get(store.BUNDLE_TAG))
