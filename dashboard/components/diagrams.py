"""The five topology diagrams, drawn as SVG: inputs (red) feed hidden states (green) that emit outputs (blue);
arrows between hidden states are the recurrence."""

from __future__ import annotations

from dashboard.components.topology_registry import TOPOLOGY_UI

BOX, GAP, ROW = 34, 22, 62  # box side, horizontal gap, vertical distance between rows
COLOURS = {"input": "#e8807a", "hidden": "#7cc68d", "output": "#74a9de"}


def _box(x: float, y: float, kind: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{BOX}" height="{BOX}" rx="4" fill="{COLOURS[kind]}" '
        f'stroke="#333" stroke-width="1.5"/>'
    )


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333" stroke-width="2" marker-end="url(#head)"/>'


def topology_svg(topology: str, height: int = 180) -> str:
    """A self-contained SVG; the widest diagram sets the width so all five share one scale."""
    layout = TOPOLOGY_UI[topology].layout
    widest = max(ui.layout.steps for ui in TOPOLOGY_UI.values())
    width = widest * (BOX + GAP) + GAP
    left = (width - (layout.steps * (BOX + GAP) - GAP)) / 2
    rows = {"output": 10, "hidden": 10 + ROW, "input": 10 + 2 * ROW}
    parts = [
        '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker></defs>'
    ]
    for step in range(layout.steps):
        x = left + step * (BOX + GAP)
        centre = x + BOX / 2
        parts.append(_box(x, rows["hidden"], "hidden"))
        if step in layout.inputs:
            parts += [_box(x, rows["input"], "input"), _arrow(centre, rows["input"], centre, rows["hidden"] + BOX + 2)]
        if step in layout.outputs:
            parts += [
                _box(x, rows["output"], "output"),
                _arrow(centre, rows["hidden"], centre, rows["output"] + BOX + 2),
            ]
        if layout.recurrent and step + 1 < layout.steps:
            y = rows["hidden"] + BOX / 2
            parts.append(_arrow(x + BOX, y, x + BOX + GAP - 2, y))
    total_height = rows["input"] + BOX + 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_height}" height="{height}" '
        f'role="img" aria-label="{topology.replace("_", " ")} diagram">{"".join(parts)}</svg>'
    )


LEGEND_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 330 24" height="24">'
    + "".join(
        f'<rect x="{10 + i * 110}" y="4" width="16" height="16" rx="3" fill="{COLOURS[k]}" stroke="#333"/>'
        f'<text x="{32 + i * 110}" y="17" font-size="13" font-family="sans-serif">{k}</text>'
        for i, k in enumerate(("input", "hidden", "output"))
    )
    + "</svg>"
)
