"""One neuron, by hand: the learner guesses w and b, then gradient descent walks from the guess."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dlcore import backprop
from dlcore.i18n import _
from dlcore.readable import number
from ui.plain_figure import READABLE_AXIS, PlainFigure, values

GUESS = "#e4572e"
PATH = "#2e86ab"


@st.cache_data(show_spinner=False, max_entries=256)
def fit(w: float, b: float) -> backprop.NeuronFit:
    return backprop.neuron_fit(w, b)


@st.cache_data(show_spinner=False, max_entries=256)
def descent(w: float, b: float, rate: float, steps: int) -> backprop.NeuronPath:
    return backprop.neuron_descent(w, b, rate, steps)


@st.cache_data(show_spinner=False)
def surface() -> backprop.NeuronSurface:
    return backprop.neuron_surface()


def _points_figure(result: backprop.NeuronFit, chosen: int) -> dict:
    x = [p[0] for p in backprop.NEURON_POINTS]
    y = [p[1] for p in backprop.NEURON_POINTS]
    return {
        "data": [
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "mode": "markers",
                "name": _("points to fit"),
                "marker": {"size": 10, "color": "#5c5c5c"},
            },
            {
                "type": "scatter",
                "x": list(result.curve_x),
                "y": list(result.curve_a),
                "mode": "lines",
                "name": "a = σ(w·x + b)",
                "line": {"color": GUESS},
            },
            {
                "type": "scatter",
                "x": [x[chosen]],
                "y": [result.a[chosen]],
                "mode": "markers",
                "name": _("the point written out"),
                "marker": {"size": 13, "color": GUESS, "symbol": "diamond"},
            },
        ],
        "layout": {
            "height": 320,
            "margin": {"t": 10, "b": 40},
            "legend": {"orientation": "h", "y": -0.25},
            "xaxis": {**READABLE_AXIS, "title": {"text": _("input x")}},
            "yaxis": {**READABLE_AXIS, "title": {"text": _("output a")}, "range": [-0.05, 1.05]},
        },
    }


def _contour_figure(path: backprop.NeuronPath) -> dict:
    grid = surface()
    return {
        "data": [
            {
                "type": "contour",
                "x": list(grid.w),
                "y": list(grid.b),
                "z": [list(r) for r in grid.loss],
                "colorscale": "Blues",
                "reversescale": True,
                "ncontours": 25,
                "colorbar": {"title": {"text": _("loss L")}},
            },
            {
                "type": "scatter",
                "x": values(np.asarray(path.w), 4),
                "y": values(np.asarray(path.b), 4),
                "mode": "lines",
                "name": _("gradient descent"),
                "line": {"color": PATH, "width": 3},
            },
            {
                "type": "scatter",
                "x": [path.w[0]],
                "y": [path.b[0]],
                "mode": "markers",
                "name": _("your guess"),
                "marker": {"size": 12, "color": GUESS},
            },
            {
                "type": "scatter",
                "x": [path.w[-1]],
                "y": [path.b[-1]],
                "mode": "markers",
                "name": _("where it ends"),
                "marker": {"size": 12, "color": PATH, "symbol": "x"},
            },
        ],
        "layout": {
            "height": 420,
            "margin": {"t": 10, "b": 40},
            "legend": {"orientation": "h", "y": -0.2},
            "xaxis": {**READABLE_AXIS, "title": {"text": _("weight w")}, "range": [-4, 4]},
            "yaxis": {**READABLE_AXIS, "title": {"text": _("bias b")}, "range": [-4, 4]},
        },
    }


def render_neuron() -> None:
    st.markdown(
        _(
            "A neuron multiplies its input x by a **weight** w, adds a **bias** b "
            "(tutorial §2.4) and passes the sum through an activation f, here the sigmoid σ: "
            "{formulas}. Move w and b until the curve runs through the points; the loss L, the "
            "mean of the squared misses, tells how close you are.",
            formulas="$z = w \\cdot x + b$, $a = \\sigma(z)$",
        )
    )
    c1, c2, c3 = st.columns(3)
    limit = backprop.NEURON_LIMIT
    w = c1.slider(_("Weight w"), -limit, limit, -1.0, 0.1, key="bp_neuron_w")
    b = c2.slider(_("Bias b"), -limit, limit, 1.0, 0.1, key="bp_neuron_b")
    count = len(backprop.NEURON_POINTS)
    chosen = c3.selectbox(
        _("Point written out"),
        range(count),
        format_func=lambda k: f"x = {number(backprop.NEURON_POINTS[k][0])}",
        key="bp_neuron_point",
    )
    result = fit(w, b)
    left, right = st.columns([1.1, 1])
    left.plotly_chart(PlainFigure(_points_figure(result, chosen)), key="bp_neuron_chart")
    with right:
        st.latex(result.z_latex[chosen])
        st.latex(result.a_latex[chosen])
        st.latex(result.miss_latex[chosen])
        st.metric(_("Loss L over the six points"), number(result.loss, 4))
    st.markdown(_("The loss L is the mean of the six squared misses:"))
    st.latex(result.loss_latex)
    st.subheader(_("Let gradient descent do it"))
    st.markdown(
        _(
            "From your guess, each step moves (w, b) a little downhill: {formula} and the same "
            "for b. The contour lines are the loss over every (w, b); the path is the descent.",
            formula="$w \\leftarrow w - \\eta \\, \\partial L / \\partial w$",
        )
    )
    c1, c2 = st.columns(2)
    rate = c1.select_slider(
        _("Learning rate η"), [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0], 5.0, key="bp_neuron_lr"
    )
    steps = c2.slider(_("Steps"), 10, 1000, 200, 10, key="bp_neuron_steps")
    path = descent(w, b, rate, steps)
    st.plotly_chart(PlainFigure(_contour_figure(path)), key="bp_neuron_contour")
    st.markdown(
        _(
            "Loss **{before} → {after}** after {steps} steps, ending at w = {w}, b = {b}.",
            before=number(path.loss[0], 4),
            after=number(path.loss[-1], 4),
            steps=steps,
            w=number(path.w[-1], 4),
            b=number(path.b[-1], 4),
        )
    )
