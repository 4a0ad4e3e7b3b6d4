"""The frame every topology page shares: the header (title, diagram, explanation) and the Demo, Memory and Compare
tabs. What each topology shows lives in topology_registry."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from dashboard.components.diagrams import LEGEND_SVG, topology_svg
from dashboard.components.topology_registry import TOPOLOGY_UI
from models import TOPOLOGIES


def diagram(topology: str, height: int = 150) -> None:
    st.image(topology_svg(topology, height), width="content")


def topology_page(
    topology: str,
    more_comparison: Callable[[], None] | None = None,
    headline_metrics: tuple[str, ...] | None = None,
    with_memory: bool = False,
):
    """The frame of every topology page: header, then a Demo tab (returned, for the page to fill) and a Compare
    tab, which ends with ``more_comparison()`` when a page has its own tables to add. The comparison is drawn
    first, so it stays on the page when the demo stops early for a missing input. ``headline_metrics`` narrows
    the comparison's table and bars to those metrics (default: every ``test_*`` metric).

    ``with_memory`` adds a Memory tab between them and returns (demo, memory_view.MemoryTab), for the page to
    hand its input to a memory_view function; the tabs then know which one is open, so the Memory views cost
    nothing while it is closed (switching tabs reruns the page)."""
    from dashboard.components.run_comparison import run_comparison

    header(topology)
    if with_memory:
        demo, memory, compare = st.tabs(["Demo", "Memory", "Compare runs"], key=f"{topology}-tab", on_change="rerun")
    else:
        demo, compare = st.tabs(["Demo", "Compare runs"])
    with compare:
        run_comparison(topology, headline_metrics)
        if more_comparison:
            more_comparison()
    if with_memory:
        from dashboard.components.memory_view import memory_tab

        return demo, memory_tab(memory, topology)
    return demo


def header(topology: str) -> None:
    """Title, diagram and explanation at the top of a topology page."""
    ui = TOPOLOGY_UI[topology]
    st.title(f"{ui.icon} {TOPOLOGIES[topology].title}")
    left, right = st.columns([1, 2], vertical_alignment="center")
    with left:
        diagram(topology)
        st.image(LEGEND_SVG, width="content")
    with right:
        st.markdown(f"**{ui.demo}.** {ui.explanation}")
