"""The app's pages, built once so the home page can link to the same page objects that st.navigation serves."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.components.topologies import header
from dashboard.components.topology_registry import TOPOLOGY_UI
from models import TOPOLOGIES

VIEWS = Path(__file__).parent / "views"


def _not_built(topology: str):
    def page() -> None:
        header(topology)
        st.info("This page is not built yet: its model, data and demo are on the roadmap.")

    page.__name__ = topology  # st.Page derives the URL from the function name
    return page


def built(topology: str) -> bool:
    return (VIEWS / f"{topology}.py").is_file()


def topology_pages() -> dict[str, st.Page]:
    pages = {}
    for name, topology in TOPOLOGIES.items():
        target = VIEWS / f"{name}.py" if built(name) else _not_built(name)
        pages[name] = st.Page(target, title=topology.title, icon=TOPOLOGY_UI[name].icon, url_path=name)
    return pages
