"""Losses: how each loss punishes a miss, why cross-entropy suits classes, a worked example.

Each view is a fragment: moving one of its controls reruns that view only.
"""

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import losses
from dlcore.errors import DlcoreError
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

COLORS = {
    "mse": "#e4572e",
    "mae": "#2e86ab",
    "huber": "#f3a712",
    "log_cosh": "#7768ae",
    "binary_crossentropy": "#2e86ab",
}


@st.cache_data(show_spinner=False, max_entries=256)
def curves(
    target: float, prediction: float, selected: tuple, delta: float
) -> losses.RegressionCurves:
    return losses.regression_curves(target, prediction, selected, delta)


@st.cache_data(show_spinner=False, max_entries=256)
def fits(outlier: float, selected: tuple, delta: float) -> losses.OutlierFits:
    return losses.outlier_fits(outlier, selected, delta)


@st.cache_data(show_spinner=False, max_entries=256)
def classification(true_class: int, probability: float) -> losses.ClassificationView:
    return losses.classification_view(true_class, probability)


@st.cache_data(show_spinner=False, max_entries=256)
def worked(name: str, y_text: str, p_text: str, delta: float) -> losses.WorkedExample:
    return losses.worked_example(name, y_text, p_text, delta)


def title(name: str) -> str:
    return losses.get(name).title


# Huber's δ: its default and range come from the registry, for the slider and the worked example.
DELTA = losses.get("huber").hyperparameter("delta")


def two_panels(x, series: dict, at: float, labels: tuple, key: str) -> None:
    """Loss (left) and slope (right) against x, one line per loss, the current x marked."""
    traces = []
    for name, (loss, slope, here) in series.items():
        for axis, values, point in (("", loss, here[0]), ("2", slope, here[1])):
            style = {"line": {"color": COLORS[name]}, "xaxis": "x" + axis, "yaxis": "y" + axis}
            traces.append(
                {
                    "type": "scatter",
                    "x": np.asarray(x),
                    "y": np.asarray(values),
                    "name": title(name),
                    "legendgroup": name,
                    "showlegend": axis == "",
                    **style,
                }
            )
            traces.append(
                {
                    "type": "scatter",
                    "x": [at],
                    "y": [point],
                    "mode": "markers",
                    "marker": {"size": 10, "color": COLORS[name]},
                    "showlegend": False,
                    "xaxis": "x" + axis,
                    "yaxis": "y" + axis,
                }
            )
    layout = {
        "height": 360,
        "margin": {"t": 50, "b": 10},
        "legend": {"orientation": "h", "x": 0, "y": 1.18},
        "xaxis": {"domain": [0, 0.46], "title": {"text": labels[0]}},
        "xaxis2": {"domain": [0.54, 1], "title": {"text": labels[0]}},
        "yaxis": {"title": {"text": labels[1]}},
        "yaxis2": {"anchor": "x2", "title": {"text": labels[2]}},
    }
    st.plotly_chart({"data": traces, "layout": layout}, key=key)


@st.fragment
def regression_view() -> None:
    names = losses.regression_names()
    selected = st.multiselect(
        "Losses", names, ["mse", "mae", "huber"], format_func=title, key="loss_selected"
    )
    c1, c2, c3 = st.columns(3)
    target = c1.slider("True value y", -3.0, 3.0, 0.0, 0.1, key="loss_target")
    prediction = c2.slider("Prediction ŷ", -5.0, 5.0, 2.0, 0.05, key="loss_prediction")
    delta = c3.slider(
        f"Huber's {DELTA.label}", DELTA.low, DELTA.high, DELTA.default, 0.1, key="loss_delta"
    )
    if not selected:
        st.info("Pick at least one loss.")
        return
    view = curves(target, prediction, tuple(selected), delta)
    series = {
        n: (c.loss, c.gradient, (view.at[n].loss, view.at[n].gradient))
        for n, c in view.curves.items()
    }
    two_panels(
        view.y_pred,
        series,
        prediction,
        ("prediction ŷ", "loss", "slope dL/dŷ"),
        "loss_regression_chart",
    )
    rows = [
        {"loss": title(n), "loss at ŷ": v.loss, "slope dL/dŷ": v.gradient}
        for n, v in view.at.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="loss_regression_table")
    st.markdown(
        "MSE's slope grows with the miss, so a far-off point pulls hard; MAE's slope is "
        "always ±1 and Huber's is capped at ±δ, so they stay calm."
    )
    for name in selected:
        st.latex(losses.get(name, **({"delta": delta} if name == "huber" else {})).latex)
    st.subheader("One outlier in the data")
    outlier = st.slider("Value of the seventh point", 0.0, 40.0, 15.0, 0.5, key="loss_outlier")
    data = fits(outlier, tuple(selected), delta)
    points = {
        "type": "scatter",
        "x": data.data,
        "y": [-0.5] * len(data.data),
        "mode": "markers",
        "marker": {"size": 12, "color": "#5c5c5c"},
        "name": "data",
    }
    shapes = [
        {"type": "line", "x0": c, "x1": c, "y0": -1, "y1": 1, "line": {"color": COLORS[n]}}
        for n, c in data.fits.items()
    ]
    marks = [
        {
            "type": "scatter",
            "x": [c],
            "y": [0.8 - 0.3 * i],
            "mode": "text",
            "text": [title(n)],
            "textfont": {"color": COLORS[n]},
            "showlegend": False,
        }
        for i, (n, c) in enumerate(data.fits.items())
    ]
    layout = {
        "height": 220,
        "margin": {"t": 10, "b": 10},
        "shapes": shapes,
        "showlegend": False,
        "yaxis": {"visible": False, "range": [-1, 1]},
        "xaxis": {"title": {"text": "value"}},
    }
    st.plotly_chart({"data": [points, *marks], "layout": layout}, key="loss_outlier_chart")
    best = ", ".join(f"{title(n)} **{c:.3f}**" for n, c in data.fits.items())
    st.markdown(
        f"The constant that minimizes each loss over these 7 points: {best}. "
        f"(mean {data.mean:.3f}, median {data.median:.3f})"
    )
    with st.expander("Going deeper: why the mean and the median"):
        st.markdown(
            "Setting the slope of the average loss to zero: for MSE, "
            "$\\sum_i 2(c - y_i) = 0$ gives the mean; for MAE, $\\sum_i \\mathrm{sign}(c - y_i)"
            " = 0$ gives the median (as many points above as below); Huber clips each "
            "term at ±δ, so far points count like in MAE. The page finds each constant "
            "numerically from TensorFlow's slope, not from these rules, and they agree."
        )


@st.fragment
def classification_view() -> None:
    c1, c2 = st.columns(2)
    label = c1.radio("True class y", [1, 0], horizontal=True, key="loss_true_class")
    probability = c2.slider(
        "Predicted probability of class 1, ŷ", 0.01, 0.99, 0.1, 0.01, key="loss_probability"
    )
    view = classification(label, probability)
    series = {
        n: (c.loss, c.d_logit, (view.at[n].loss, view.at[n].d_logit))
        for n, c in view.curves.items()
    }
    two_panels(
        view.p,
        series,
        probability,
        ("predicted probability ŷ", "loss", "slope dL/dz (z: the logit)"),
        "loss_classification_chart",
    )
    columns = st.columns(4)
    for i, name in enumerate(("binary_crossentropy", "mse")):
        columns[2 * i].metric(f"{title(name)}", f"{view.at[name].loss:.4f}")
        columns[2 * i + 1].metric("its slope dL/dz", f"{view.at[name].d_logit:+.4f}")
    st.markdown(
        "The model outputs a score z and ŷ = σ(z). When it is **confidently wrong**, "
        "cross-entropy's slope stays near ±1, a strong push back; MSE's slope shrinks "
        "towards 0 because σ is flat there, so learning stalls exactly when it is needed."
    )
    st.latex(losses.get("binary_crossentropy").latex)
    st.caption(losses.get("binary_crossentropy").note)
    with st.expander("Going deeper: the two slopes"):
        for name, formulas in losses.CLASSIFICATION_GRADIENT_LATEX.items():
            st.markdown(f"**{title(name)}** (one sample)")
            st.latex(formulas["d_probability"])
            st.latex(formulas["d_logit"])


@st.fragment
def worked_view() -> None:
    name = st.selectbox("Loss", losses.names(), format_func=title, key="loss_we_name")
    loss = losses.get(name)
    y_default, p_default = losses.EXAMPLE_INPUTS[name]
    st.caption(f"{loss.inputs}. Separate numbers with commas, rows with ';'.")
    c1, c2 = st.columns(2)
    y_text = c1.text_input("True values y", y_default, max_chars=200, key=f"loss_we_y_{name}")
    p_text = c2.text_input("Predictions ŷ", p_default, max_chars=200, key=f"loss_we_p_{name}")
    delta = DELTA.default
    if name == "huber":
        delta = st.number_input(
            DELTA.label, DELTA.low, DELTA.high, DELTA.default, 0.1, key="loss_we_delta"
        )
    st.latex(losses.get(name, **({"delta": delta} if name == "huber" else {})).latex)
    st.caption(loss.note)
    try:
        example = worked(name, y_text, p_text, delta)
    except DlcoreError as error:
        st.error(str(error))
        return
    table = pd.DataFrame(example.rows).rename(
        columns={"y_pred": "ŷ", "term": "this sample's term", "value": "value"}
    )
    st.dataframe(table, hide_index=True, key="loss_we_table")
    if example.note:
        st.caption(example.note)
    st.markdown(
        f"Sum of the terms = {example.sum:.10g}; mean = sum ÷ {example.n} = **{example.mean:.10g}**"
    )
    gap = abs(example.mean - example.keras)
    st.markdown(
        f"`keras.losses` reports **{example.keras:.10g}** "
        f"(difference {gap:.1e}: {'the same number' if gap < 1e-8 else 'see the note'})."
    )


st.title("🎯 Loss functions")
st.markdown(
    'A **loss** turns "how wrong is the model?" into one number; training nudges the weights '
    "to make it smaller, following its **slope** (gradient). Different losses punish mistakes "
    "differently, and that changes what the model learns. Every number below is computed by "
    "`keras.losses`, the slopes by TensorFlow's automatic differentiation."
)
regression_tab, classification_tab, worked_tab = st.tabs(
    ["Regression", "Classification", "Worked example"]
)
with regression_tab:
    regression_view()
with classification_tab:
    classification_view()
with worked_tab:
    worked_view()
