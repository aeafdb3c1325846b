"""Losses: how each loss punishes a miss, why cross-entropy suits classes, a worked example.

Each view is a fragment: moving one of its controls reruns that view only.
"""

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import losses, readable
from dlcore.errors import DlcoreError
from dlcore.i18n import _
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


@st.cache_data(show_spinner=False, max_entries=256)
def encodings(classes_text: str, p_text: str) -> losses.LabelComparison:
    return losses.compare_label_encodings(classes_text, p_text)


def title(name: str) -> str:
    return _(losses.get(name).title)


def formula(name: str, **params: float) -> str:
    """The loss's LaTeX, its words (Huber's "otherwise") in the reader's language."""
    latex = losses.get(name, **params).latex
    return latex.replace(r"\text{otherwise}", r"\text{" + _("otherwise") + "}")


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
        _("Losses"), names, ["mse", "mae", "huber"], format_func=title, key="loss_selected"
    )
    c1, c2, c3 = st.columns(3)
    target = c1.slider(_("True value y"), -3.0, 3.0, 0.0, 0.1, key="loss_target")
    prediction = c2.slider(_("Prediction ŷ"), -5.0, 5.0, 2.0, 0.05, key="loss_prediction")
    delta = c3.slider(
        _("Huber's {delta}", delta=DELTA.label),
        DELTA.low,
        DELTA.high,
        DELTA.default,
        0.1,
        key="loss_delta",
    )
    if not selected:
        st.info(_("Pick at least one loss."))
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
        (_("prediction ŷ"), _("loss"), _("slope dL/dŷ")),
        "loss_regression_chart",
    )
    rows = [
        {
            _("loss"): title(n),
            _("loss at ŷ"): readable.number(v.loss, 4),
            _("slope dL/dŷ"): readable.number(v.gradient, 4),
        }
        for n, v in view.at.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="loss_regression_table")
    st.markdown(
        _(
            "MSE's slope grows with the miss, so a far-off point pulls hard; MAE's slope is "
            "always ±1 and Huber's is capped at ±δ, so they stay calm."
        )
    )
    for name in selected:
        st.latex(formula(name, **({"delta": delta} if name == "huber" else {})))
    st.subheader(_("One outlier in the data"))
    outlier = st.slider(_("Value of the seventh point"), 0.0, 40.0, 15.0, 0.5, key="loss_outlier")
    data = fits(outlier, tuple(selected), delta)
    points = {
        "type": "scatter",
        "x": data.data,
        "y": [-0.5] * len(data.data),
        "mode": "markers",
        "marker": {"size": 12, "color": "#5c5c5c"},
        "name": _("data"),
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
        "xaxis": {"title": {"text": _("value")}},
    }
    st.plotly_chart({"data": [points, *marks], "layout": layout}, key="loss_outlier_chart")
    best = _(", ").join(f"{title(n)} **{readable.number(c, 4)}**" for n, c in data.fits.items())
    mean, median = readable.number(data.mean, 4), readable.number(data.median, 4)
    st.markdown(
        _(
            "The constant that minimizes each loss over these 7 points: {best}. "
            "(mean {mean}, median {median})",
            best=best,
            mean=mean,
            median=median,
        )
    )
    with st.expander(_("Going deeper: why the mean and the median")):
        st.markdown(
            _(
                "Setting the slope of the average loss to zero: for MSE, "
                "$\\sum_i 2(c - y_i) = 0$ gives the mean; for MAE, "
                "$\\sum_i \\mathrm{sign}(c - y_i) = 0$ gives the median (as many points "
                "above as below); Huber clips each term at ±δ, so far points count like in "
                "MAE. The page finds each constant numerically from TensorFlow's slope, not "
                "from these rules, and they agree."
            )
        )


@st.fragment
def classification_view() -> None:
    c1, c2 = st.columns(2)
    label = c1.radio(_("True class y"), [1, 0], horizontal=True, key="loss_true_class")
    probability = c2.slider(
        _("Predicted probability of class 1, ŷ"), 0.01, 0.99, 0.1, 0.01, key="loss_probability"
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
        (_("predicted probability ŷ"), _("loss"), _("slope dL/dz (z: the logit)")),
        "loss_classification_chart",
    )
    columns = st.columns(4)
    for i, name in enumerate(("binary_crossentropy", "mse")):
        slope = view.at[name].d_logit
        columns[2 * i].metric(title(name), readable.number(view.at[name].loss, 4))
        columns[2 * i + 1].metric(
            _("its slope dL/dz"), ("+" if slope > 0 else "") + readable.number(slope, 4)
        )
    st.markdown(
        _(
            "The model outputs a score z and ŷ = σ(z). When it is **confidently wrong**, "
            "cross-entropy's slope stays near ±1, a strong push back; MSE's slope shrinks "
            "towards 0 because σ is flat there, so learning stalls exactly when it is needed."
        )
    )
    st.latex(formula("binary_crossentropy"))
    st.caption(_(losses.get("binary_crossentropy").note))
    with st.expander(_("Going deeper: the two slopes")):
        for name, formulas in losses.CLASSIFICATION_GRADIENT_LATEX.items():
            st.markdown(_("**{loss}** (one sample)", loss=title(name)))
            st.latex(formulas["d_probability"])
            st.latex(formulas["d_logit"])


@st.fragment
def worked_view() -> None:
    name = st.selectbox(_("Loss"), losses.names(), format_func=title, key="loss_we_name")
    loss = losses.get(name)
    y_default, p_default = losses.EXAMPLE_INPUTS[name]
    st.caption(_("{inputs}. Separate numbers with commas, rows with ';'.", inputs=_(loss.inputs)))
    c1, c2 = st.columns(2)
    y_text = c1.text_input(_("True values y"), y_default, max_chars=200, key=f"loss_we_y_{name}")
    p_text = c2.text_input(_("Predictions ŷ"), p_default, max_chars=200, key=f"loss_we_p_{name}")
    delta = DELTA.default
    if name == "huber":
        delta = st.number_input(
            DELTA.label, DELTA.low, DELTA.high, DELTA.default, 0.1, key="loss_we_delta"
        )
    st.latex(formula(name, **({"delta": delta} if name == "huber" else {})))
    st.caption(_(loss.note))
    try:
        example = worked(name, y_text, p_text, delta)
    except DlcoreError as error:
        st.error(str(error))
        return
    show_worked_result(example)


def show_worked_result(example: losses.WorkedExample) -> None:
    """The terms, their sum and mean, and Keras' number beside them."""
    table = pd.DataFrame(example.rows)
    table["term"] = [str(row.term) for row in example.rows]
    table["value"] = [readable.number(row.value, 4) for row in example.rows]
    if not example.rescaled:
        table = table.drop(columns="used")
    table = table.rename(
        columns={
            "sample": _("sample"),
            "y_pred": "ŷ",
            "term": _("this sample's term"),
            "value": _("value"),
            "used": _("ŷ as Keras uses it"),
        }
    )
    st.dataframe(table, hide_index=True, key="loss_we_table")
    if example.note:
        st.caption(str(example.note))
    total, mean = readable.number(example.sum, 10), readable.number(example.mean, 10)
    st.markdown(
        _(
            "Sum of the terms = {total}; mean = sum ÷ {n} = **{mean}**",
            total=total,
            n=readable.grouped(example.n),
            mean=mean,
        )
    )
    gap = abs(example.mean - example.keras)
    keras_value, difference = readable.number(example.keras, 10), readable.number(gap, 2)
    if gap < 1e-8:
        verdict = _(
            "`keras.losses` reports **{value}** (difference {difference}: the same number).",
            value=keras_value,
            difference=difference,
        )
    else:
        verdict = _(
            "`keras.losses` reports **{value}** (difference {difference}: see the note).",
            value=keras_value,
            difference=difference,
        )
    st.markdown(verdict)


@st.fragment
def labels_view() -> None:
    """One-hot or class numbers (tutorial §4.2.2 vs §5.2): the same labels, the same loss."""
    st.markdown(
        _(
            "The tutorial's cross-entropy example (§4.2.2) writes each label as a **one-hot** "
            "row and trains with categorical cross-entropy and Adam (learning rate 0.001); "
            "its MNIST code (§5.2) keeps each label as a **class number** and uses "
            "`sparse_categorical_crossentropy`. Type your own labels and predictions: both "
            "losses give the same number."
        )
    )
    default_classes, default_rows = losses.LABELS_EXAMPLE
    c1, c2 = st.columns([1, 2])
    classes_text = c1.text_input(
        _("True classes (class numbers)"), default_classes, max_chars=100, key="loss_oh_classes"
    )
    rows_text = c2.text_input(
        _("Predicted probabilities ŷ (one row per sample, rows separated by ';')"),
        default_rows,
        max_chars=300,
        key="loss_oh_rows",
    )
    try:
        both = encodings(classes_text, rows_text)
    except DlcoreError as error:
        st.error(str(error))
        return
    show_encodings(both)


def show_encodings(both: losses.LabelComparison) -> None:
    table = pd.DataFrame(
        {
            _("sample"): [row.sample for row in both.rows],
            _("class number c"): [readable.grouped(row.label) for row in both.rows],
            _("one-hot y"): [row.one_hot for row in both.rows],
            "ŷ": [row.y_pred for row in both.rows],
            _("categorical: −Σ y·log ŷ"): [row.categorical_term for row in both.rows],
            _("sparse: −log ŷ_c"): [row.sparse_term for row in both.rows],
            _("value"): [readable.number(row.sparse, 4) for row in both.rows],
        }
    )
    st.dataframe(table, hide_index=True, key="loss_oh_table")
    c1, c2 = st.columns(2)
    c1.metric(
        _("Categorical cross-entropy, one-hot labels"),
        readable.number(both.categorical, 10),
    )
    c2.metric(
        _("Sparse categorical cross-entropy, class numbers"),
        readable.number(both.sparse, 10),
    )
    st.markdown(
        _(
            "**Why the same number:** a one-hot row is 0 everywhere except at the true "
            "class, so every term 0·log ŷ vanishes and categorical cross-entropy keeps only "
            "−log ŷ_c, which is exactly what the sparse loss reads from the class number. The "
            "sparse form stores one number per label instead of {classes} and skips the "
            "multiplications by 0.",
            classes=readable.grouped(both.classes),
        )
    )
    # One above the other: side by side, the compile lines would be cut off at 1400 px.
    st.code(ONE_HOT_CODE, language="python")
    st.code(SPARSE_CODE, language="python")


# The two ways of writing the tutorial's recipe in Keras (MNIST: 10 classes).
ONE_HOT_CODE = """\
# §4.2.2: labels one-hot, categorical cross-entropy
y_train = keras.utils.to_categorical(y_train, 10)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.001),
    loss="categorical_crossentropy",
)"""
SPARSE_CODE = """\
# §5.2: labels stay class numbers 0…9, y_train unchanged
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.001),
    loss="sparse_categorical_crossentropy",
)"""


st.title(_("🎯 Loss functions"))
st.markdown(
    _(
        'A **loss** turns "how wrong is the model?" into one number; training nudges the '
        "weights to make it smaller, following its **slope** (gradient). Different losses "
        "punish mistakes differently, and that changes what the model learns. Every number "
        "below is computed by `keras.losses`, the slopes by TensorFlow's automatic "
        "differentiation."
    )
)
regression_tab, classification_tab, labels_tab, worked_tab = st.tabs(
    [_("Regression"), _("Classification"), _("One-hot or class number?"), _("Worked example")]
)
with regression_tab:
    regression_view()
with classification_tab:
    classification_view()
with labels_tab:
    labels_view()
with worked_tab:
    worked_view()
