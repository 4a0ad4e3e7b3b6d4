"""Small plotly charts that several pages draw."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go


def probability_bars(labels: Sequence[str], probabilities: Sequence[float], top_k: int = 5) -> go.Figure:
    """The top-k classes as horizontal bars, most likely on top."""
    ranked = sorted(zip(probabilities, labels), reverse=True)[:top_k][::-1]
    values, names = [float(p) for p, _ in ranked], [n for _, n in ranked]
    figure = go.Figure(
        go.Bar(x=values, y=names, orientation="h", text=[f"{p:.1%}" for p in values], textposition="auto")
    )
    figure.update_layout(
        height=60 + 40 * len(values), margin=dict(t=10, b=10, l=10, r=10), xaxis=dict(range=[0, 1], title="probability")
    )
    return figure
