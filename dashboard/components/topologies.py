"""The frame every topology page shares: the header (title, diagram, explanation) and the Demo, Memory and Compare
tabs. What each topology shows lives in topology_registry."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from dashboard.components.diagrams import LEGEND_SVG, topology_svg
from dashboard.components.memory_view import memory_tab
from dashboard.components.topology_registry import TOPOLOGY_UI
from models import TOPOLOGIES


def diagram(topology: str, height: int = 150) -> None:
    st.image(topology_svg(topology, height), width="content")


def topology_page(
    topology: str,
    more_comparison: Callable[[], None] | None = None,
    headline_metrics: tuple[str, ...] | None = None,
):
    """The frame of every topology page: header, then three tabs. Returns the Demo tab, for the page to fill, and
    the Memory tab as a memory_view.MemoryTab, for the page to hand its input to a memory_view function. The Compare
    tab ends with ``more_comparison()`` when a page has its own tables to add; ``headline_metrics`` narrows the
    comparison's table and bars to those metrics (default: every ``test_*`` metric).

    The tabs know which one is open (switching tabs reruns the page), and only the open one's views are drawn:
    the comparison's charts and the Memory views cost nothing while the user is on the demo. The demo itself always
    runs, because the Memory tab shows the model on the demo's input. The comparison is drawn before the demo, so
    it stays on the page when the demo stops early for a missing input."""
    from dashboard.components.run_comparison import run_comparison

    header(topology)
    demo, memory, compare = st.tabs(["Demo", "Memory", "Compare runs"], key=f"{topology}-tab", on_change="rerun")
    with compare:
        if compare.open:
            run_comparison(topology, headline_metrics)
            if more_comparison:
                more_comparison()
    return demo, memory_tab(memory, topology)


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
