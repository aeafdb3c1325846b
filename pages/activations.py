"""Activations: each function and its slope, where it saturates, vanishing gradients, softmax.

Each panel is a fragment: moving one of its controls reruns that panel only.
"""

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import activations, readable
from dlcore.i18n import _
from ui.plain_figure import READABLE_AXIS
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

COLORS = ["#e4572e", "#2e86ab", "#3bb273", "#7768ae", "#f3a712", "#a23b72", "#5c5c5c"]
PROBE_DEFAULT = 1.0
RIGHT_ALIGNED = st.column_config.TextColumn(alignment="right")


@st.cache_data(show_spinner=False, max_entries=256)
def explore(
    selected: tuple, x_range: tuple, probe: float, params: dict
) -> activations.FunctionView:
    return activations.explore(selected, x_range[0], x_range[1], probe, params)


@st.cache_data(show_spinner=False, max_entries=64)
def vanishing(selected: tuple, n_layers: int) -> activations.VanishingView:
    return activations.vanishing_view(selected, n_layers)


@st.cache_data(show_spinner=False, max_entries=256)
def softmax(logits: tuple, temperature: float) -> activations.SoftmaxView:
    return activations.softmax_view(logits, temperature)


def title(name: str) -> str:
    """An activation's display name, in the reader's language."""
    return _(activations.get(name).title)


def line(x, y, name, color, axis="", **extra) -> dict:
    """One Plotly trace as a plain dict: much faster to build than graph_objects calls."""
    return {
        "type": "scatter",
        "x": np.asarray(x),
        "y": np.asarray(y),
        "name": name,
        "line": {"color": color},
        "xaxis": "x" + axis,
        "yaxis": "y" + axis,
        **extra,
    }


def band(x0, x1, axis, **style) -> dict:
    """A full-height shape from x0 to x1 on the given subplot (a rectangle or, x0 = x1, a line)."""
    kind = "line" if x0 == x1 else "rect"
    return {
        "type": kind,
        "x0": x0,
        "x1": x1,
        "y0": 0,
        "y1": 1,
        "xref": "x" + axis,
        "yref": f"y{axis} domain",
        **style,
    }


def render_curves(view: activations.FunctionView, probe: float) -> None:
    """f(x) and f'(x) side by side, saturated stretches shaded, the probe marked."""
    traces, shapes = [], []
    for index, (name, curve) in enumerate(view.curves.items()):
        color = COLORS[index % len(COLORS)]
        here = view.probe[name]
        panels = (("", curve.value, here.value), ("2", curve.derivative, here.derivative))
        for axis, values, point in panels:
            traces.append(
                line(
                    view.x,
                    values,
                    title(name),
                    color,
                    axis,
                    legendgroup=name,
                    showlegend=axis == "",
                )
            )
            traces.append(
                line(
                    [probe],
                    [point],
                    title(name),
                    color,
                    axis,
                    mode="markers",
                    marker={"size": 9},
                    showlegend=False,
                )
            )
            shapes += [
                band(a, b, axis, fillcolor=color, opacity=0.08, line={"width": 0})
                for a, b in curve.saturated
            ]
    shapes += [band(probe, probe, a, line={"dash": "dot", "color": "gray"}) for a in ("", "2")]
    layout = {
        "height": 380,
        "margin": {"t": 30, "b": 10},
        "shapes": shapes,
        "legend": {"orientation": "h", "y": -0.15},
        "xaxis": {**READABLE_AXIS, "domain": [0, 0.46]},
        "xaxis2": {**READABLE_AXIS, "domain": [0.54, 1]},
        "yaxis": {**READABLE_AXIS, "title": {"text": "f(x)"}},
        "yaxis2": {**READABLE_AXIS, "anchor": "x2", "title": {"text": _("f'(x), the slope")}},
    }
    st.plotly_chart({"data": traces, "layout": layout}, key="act_curves_chart")


def render_formulas(selected: list, params: dict) -> None:
    for name in selected:
        entry = activations.get(name, **params.get(name, {}))
        with st.container(border=True):
            st.markdown(
                _(
                    "**{activation}** · range {range} · {use}",
                    activation=_(entry.title),
                    range=_(entry.range),
                    use=_(entry.use),
                )
            )
            st.latex(activations.shown_latex(entry.latex))
            st.latex(activations.shown_latex(entry.derivative_latex))
            if entry.symbols:
                values = ", ".join(
                    f"${s}$ = {readable.number(v, 6)}" for s, v in entry.symbols.items()
                )
                st.caption(_("where {values}", values=values))


def keep_probe_in(low: float, high: float) -> None:
    """The probe slider spans the plotted range, so its dots always sit on their curves; a
    probe the range no longer covers moves to the nearest end of it."""
    probe = st.session_state.get("act_probe", PROBE_DEFAULT)
    st.session_state["act_probe"] = min(max(probe, low), high)


@st.fragment
def explorer_panel() -> None:
    options = activations.elementwise_names()
    selected = st.multiselect(
        _("Activations to compare"),
        options,
        ["sigmoid", "tanh", "relu"],
        format_func=title,
        key="act_selected",
    )
    left, right = st.columns(2)
    x_range = left.slider(_("Input range x"), -10.0, 10.0, (-6.0, 6.0), 0.5, key="act_range")
    if x_range[0] >= x_range[1]:
        st.error(_("The input range is empty: move the two ends of the range apart."))
        return
    keep_probe_in(*x_range)
    low, high = x_range
    probe = right.slider(_("Probe x"), min_value=low, max_value=high, step=0.05, key="act_probe")
    params = {}
    # In registry order, so that the sliders do not swap places with the order of picking.
    for name in [n for n in options if n in selected]:
        for h in activations.get(name).hyperparameters:
            label = _("{parameter} of {activation}", parameter=h.label, activation=title(name))
            key = f"act_{h.name}_{name}"
            value = st.slider(label, h.low, h.high, h.default, 0.01, key=key)
            params.setdefault(name, {})[h.name] = value
    if not selected:
        st.info(_("Pick at least one activation to plot."))
        return
    view = explore(tuple(selected), x_range, probe, params)
    render_curves(view, probe)
    threshold = readable.number(activations.SATURATION_THRESHOLD)
    st.markdown(
        _(
            "**At x = {x}** (shaded: saturated, where |f'(x)| < {threshold})",
            x=readable.number(probe),
            threshold=threshold,
        )
    )
    activation_header, saturated_header = _("activation"), _("saturated")
    rows = [
        {
            activation_header: title(n),
            "f(x)": readable.number(p.value),
            "f'(x)": readable.number(p.derivative),
            saturated_header: abs(p.derivative) < activations.SATURATION_THRESHOLD,
        }
        for n, p in view.probe.items()
    ]
    numbers = dict.fromkeys(["f(x)", "f'(x)"], RIGHT_ALIGNED)
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="act_probe_table", column_config=numbers)
    render_formulas(selected, params)
    with st.expander(_("Going deeper: where the slope comes from")):
        st.markdown(
            _(
                "Nobody typed these derivatives into the code: TensorFlow records the Keras "
                "function on a `tf.GradientTape` and applies the chain rule backwards, the same "
                "machinery that trains every network. The formulas above are checked against it "
                "by a test. At a kink, where the slope jumps (ReLU at 0), there is no true "
                "derivative; TensorFlow returns one side's value, and the formulas say which "
                "(ReLU'(0) = 0, LeakyReLU'(0) = α, SELU'(0) = λ)."
            )
        )


@st.fragment
def vanishing_panel() -> None:
    compared = st.multiselect(
        _("Compare"),
        activations.elementwise_names(),
        ["sigmoid", "tanh", "relu"],
        format_func=title,
        key="act_depth_selected",
    )
    n_layers = st.slider(_("Number of layers N"), 2, 50, 10, key="act_layers")
    if not compared:
        st.info(_("Pick at least one activation to compare."))
        return
    depth = vanishing(tuple(compared), n_layers)
    traces = [
        line(
            depth.layer,
            c.relative_gradient,
            title(n),
            COLORS[i % len(COLORS)],
            mode="lines+markers",
        )
        for i, (n, c) in enumerate(depth.curves.items())
    ]
    layout = {
        "height": 360,
        "margin": {"t": 30, "b": 10},
        "xaxis": {**READABLE_AXIS, "title": {"text": _("layer (1 = next to the input)")}},
        "yaxis": {
            **READABLE_AXIS,
            "type": "log",
            "title": {"text": _("gradient size ÷ last layer's")},
        },
    }
    st.plotly_chart({"data": traces, "layout": layout}, key="act_vanishing_chart")
    for column, (name, curve) in zip(st.columns(len(compared)), depth.curves.items(), strict=True):
        column.metric(
            _("{activation}: layer 1", activation=title(name)),
            readable.number(curve.relative_gradient[0], 2),
            help=_("Layer 1's weight gradient divided by the last layer's."),
        )
    with st.expander(_("Going deeper: the chain rule through N layers")):
        st.markdown(
            _(
                "With {a_k} and {h_k}, layer {k}'s weight gradient is {gradient}, where",
                a_k="$a_k = h_{k-1} W_k$",
                h_k="$h_k = f(a_k)$",
                k="$k$",
                gradient="$\\partial L / \\partial W_k = h_{k-1}^\\top \\delta_k$",
            )
        )
        st.latex(r"\delta_k = \left(\delta_{k+1} W_{k+1}^\top\right) \odot f'(a_k)")
        bounds = _("; ").join(
            _(
                "{activation}: max|f'| = {slope}, so at most {slope}^{power} = {factor}",
                activation=title(n),
                slope=readable.number(c.max_slope),
                power=n_layers - 1,
                factor=readable.number(c.slope_factor, 2),
            )
            for n, c in depth.curves.items()
        )
        st.markdown(
            _(
                "Each step back multiplies by one more slope f'. From the last layer to the "
                "first that is N − 1 = {factors} factors. {bounds}. The weights add their own "
                "factors, which is why initializers (Glorot for tanh, He for ReLU) are chosen to "
                "keep them near 1.",
                factors=n_layers - 1,
                bounds=bounds,
            )
        )


@st.fragment
def softmax_panel() -> None:
    classes = st.slider(_("Number of classes"), 3, 5, 3, key="act_classes")
    defaults = [2.0, 1.0, 0.1, -1.0, 0.5]
    logits = tuple(
        column.number_input(
            _("logit z{number}", number=i + 1), -10.0, 10.0, defaults[i], 0.1, key=f"act_logit_{i}"
        )
        for i, column in enumerate(st.columns(classes))
    )
    temperature = st.slider(_("Temperature T"), 0.1, 10.0, 1.0, 0.1, key="act_temperature")
    view = softmax(logits, temperature)
    labels = [_("class {number}", number=i + 1) for i in range(classes)]
    bars = [
        {
            "type": "bar",
            "x": labels,
            "y": view.probabilities_t1,
            "name": _("T = 1 (for comparison)"),
            "marker": {"color": "#c9c9c9"},
        },
        {
            "type": "bar",
            "x": labels,
            "y": view.probabilities,
            "name": _("your T = {temperature}", temperature=readable.number(temperature)),
            "marker": {"color": COLORS[0]},
            "text": [readable.number(p) for p in view.probabilities],
        },
    ]
    layout = {
        "height": 320,
        "margin": {"t": 30, "b": 10},
        "yaxis": {**READABLE_AXIS, "range": [0, 1.05]},
    }
    st.plotly_chart({"data": bars, "layout": layout}, key="act_softmax_chart")
    st.latex(activations.SOFTMAX_TEMPERATURE_LATEX)
    with st.expander(_("Going deeper: the softmax Jacobian")):
        st.latex(activations.shown_latex(activations.get("softmax").derivative_latex))
        st.markdown(
            _(
                "Computed by `tf.GradientTape.jacobian` at the tempered logits z/T (row i, "
                "column j): positive on the diagonal, negative elsewhere, rows sum to 0."
            )
        )
        jacobian = pd.DataFrame(view.jacobian, index=labels, columns=labels).map(readable.number)
        st.dataframe(
            jacobian,
            key="act_jacobian_table",
            column_config=dict.fromkeys(labels, RIGHT_ALIGNED),
        )


st.title(_("📈 Activation functions"))
st.markdown(
    _(
        "A neuron multiplies each input by a weight, adds them up and adds a **bias**: one "
        "number *x* = w₁a₁ + w₂a₂ + … + b. Then it bends *x* with an **activation function** "
        "f(x). Without that bend, stacking layers would still give a straight line. Training "
        "also needs the **slope** f'(x): backpropagation multiplies slopes layer by layer, so "
        "wherever the slope is nearly zero (the shaded *saturated* stretches) learning stalls. "
        "Every number here is computed by TensorFlow: the function by Keras, the slope by "
        "automatic differentiation (`tf.GradientTape`)."
    )
)
explorer_panel()
st.header(_("Vanishing gradients"))
st.markdown(
    _(
        "The gradient that reaches the first layer of a deep network is a product of one slope "
        "per layer. Sigmoid's slope is never more than 0.25, so the product shrinks fast and the "
        "first layers of a deep sigmoid network barely learn. Below, TensorFlow backpropagates "
        "through a real stack of *N* dense layers (32 units, Keras' default Glorot initial "
        "weights, the same weights for every activation) and shows each layer's weight gradient "
        "relative to the last layer's, on a log scale."
    )
)
vanishing_panel()
st.header(_("Softmax: scores to probabilities"))
st.markdown(
    _(
        "A classifier's last layer gives one score (a *logit*) per class. **Softmax** turns "
        "them into probabilities that add up to 1; the biggest score gets the biggest share. "
        "Dividing the scores by a **temperature** T first makes the choice sharper (T < 1) or "
        "flatter (T > 1)."
    )
)
softmax_panel()
