"""Plotly figures written as plain, JSON-ready dicts and sent to Streamlit as they are."""

import plotly.graph_objects as go


class PlainFigure(go.Figure):
    """A figure spec (``{"data": [...], "layout": {...}, "frames": [...]}``) that skips
    Plotly's per-property validation and deep copy.

    ``st.plotly_chart`` serializes a Figure through ``to_dict()``. Building a ``go.Figure``
    validates every property of every trace and animation frame, and ``to_dict`` deep-copies
    the lot: on the Optimizers page that was most of the server's CPU per rerun
    (bench/load/README.md). The specs are validated by ``go.Figure(spec)`` in the tests
    instead (tests/app/test_optimizers_page.py), once, not on every rerun.
    """

    def __init__(self, spec: dict):
        super().__init__()
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


def values(array, digits: int = 5) -> list:
    """Coordinates as a rounded list: compact JSON, nothing for Plotly to convert. (Not for
    values drawn on a log scale: rounding would turn the small ones into 0.)"""
    return array.round(digits).tolist()


# Plotly's default tick labels use SI prefixes (1f, 100p, 10µ, −60B) that a learner cannot
# read; these write powers of ten (10⁻¹⁵) and thousands separators instead. Merge into every
# axis: ``layout["yaxis"] = {**READABLE_AXIS, "type": "log", ...}``.
READABLE_AXIS = {"exponentformat": "power", "separatethousands": True}
