"""MNIST page, tab 3: how good is the model, and where does it go wrong?"""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dlcore import metrics
from dlcore import mnist_views as views
from dlcore.arithmetic import ceil_div
from dlcore.i18n import N_, _
from dlcore.readable import grouped, number
from ui.mnist import shared
from ui.plain_figure import READABLE_AXIS

CHART = "mnist_confusion"
CELL_TRUE, CELL_PRED = "mnist_cell_true", "mnist_cell_pred"
DIGITS = list(range(10))
CELL_LIMIT = 60  # images shown for one confusion cell
GALLERY = 24  # misclassified digits shown


@st.cache_data(max_entries=4, show_spinner=False)
def _evaluation(key: str, token: str, _trained: shared.Trained) -> views.Evaluation:
    (_train, _labels), (x_test, y_test) = shared.cached_arrays()
    probabilities = shared.predictor_for(_trained).predict(x_test)
    return views.evaluate(y_test, probabilities)


def _on_cell_click() -> None:
    """A click on the matrix selects that (true, predicted) cell in the two pickers."""
    points = st.session_state[CHART].selection.points
    if points:
        st.session_state[CELL_TRUE] = int(points[0]["y"])
        st.session_state[CELL_PRED] = int(points[0]["x"])


def _confusion_figure(cm: np.ndarray, selected: tuple[int, int]) -> go.Figure:
    # Heatmaps report no clicked cell to Streamlit (streamlit#8760), so an invisible
    # marker sits on each cell's center and carries the click.
    shade = np.log1p(cm)  # the diagonal's ~1000 would otherwise wash out the errors
    fig = go.Figure(
        go.Heatmap(
            z=shade,
            x=DIGITS,
            y=DIGITS,
            text=cm,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hoverinfo="skip",
        )
    )
    cols, rows = np.meshgrid(DIGITS, DIGITS)
    fig.add_scatter(
        x=cols.ravel(),
        y=rows.ravel(),
        mode="markers",
        showlegend=False,
        marker={"size": 34, "symbol": "square", "opacity": 0},
        customdata=cm.ravel(),
        hovertemplate=_("true %{y}, predicted %{x}: %{customdata} images") + "<extra></extra>",
    )
    t, p = selected
    fig.add_shape(
        type="rect",
        x0=p - 0.5,
        x1=p + 0.5,
        y0=t - 0.5,
        y1=t + 0.5,
        line={"color": "#e4572e", "width": 3},
    )
    fig.update_xaxes(
        READABLE_AXIS, title=_("predicted digit"), range=[-0.5, 9.5], dtick=1, side="top"
    )
    fig.update_yaxes(READABLE_AXIS, title=_("true digit"), range=[9.5, -0.5], dtick=1)
    fig.update_layout(
        height=520,
        margin={"t": 40, "b": 10, "l": 10, "r": 10},
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def _confusion(ev: views.Evaluation) -> None:
    st.markdown(
        _(
            "**Confusion matrix**: each row is the true digit, each column what the "
            "network said. The diagonal holds the correct answers. *Click a cell* to see "
            "its images."
        )
    )
    worst = ev.confused_pairs[0] if ev.confused_pairs else (4, 9, 0)
    st.session_state.setdefault(CELL_TRUE, worst[0])
    st.session_state.setdefault(CELL_PRED, worst[1])
    left, right = st.columns([3, 2])
    selected = (st.session_state[CELL_TRUE], st.session_state[CELL_PRED])
    left.plotly_chart(
        _confusion_figure(ev.confusion, selected),
        key=CHART,
        on_select=_on_cell_click,
        selection_mode="points",
    )
    with right:
        a, b = st.columns(2)
        true = a.selectbox(_("True digit"), DIGITS, key=CELL_TRUE)
        pred = b.selectbox(_("Predicted digit"), DIGITS, key=CELL_PRED)
        indices = ev.cell(true, pred)
        cell = {"count": grouped(len(indices)), "true": true, "pred": pred}
        if len(indices) > CELL_LIMIT:
            st.caption(
                _(
                    "{count} test images are {true}s read as {pred} (showing {shown})",
                    shown=grouped(CELL_LIMIT),
                    **cell,
                )
            )
        else:
            st.caption(_("{count} test images are {true}s read as {pred}", **cell))
        if len(indices):
            (_train, _labels), (x_test, _test_labels) = shared.mnist_arrays()
            grid = views.tile(x_test[indices[:CELL_LIMIT]], columns=10, gap=2, fill=90)
            fig = px.imshow(grid, binary_string=True)
            fig.update_xaxes(visible=False)
            fig.update_yaxes(visible=False)
            fig.update_layout(
                margin={"t": 0, "b": 0, "l": 0, "r": 0},
                height=60 * ceil_div(len(indices[:CELL_LIMIT]), 10) + 10,
            )
            st.plotly_chart(fig, key="mnist_cell_images")


def _per_class(ev: views.Evaluation) -> None:
    st.markdown(
        _(
            "**Per digit**: *precision* — of the images the network called d, how many "
            "were d; *recall* — of the real d's, how many it found; *F1* — one number "
            "that is high only when both are."
        )
    )
    st.latex(r"\qquad ".join(metrics.formula(n) for n in ("precision", "recall", "f1")))
    scores = {_("precision"): ev.precision, _("recall"): ev.recall, "F1": ev.f1}
    st.dataframe(
        [
            {
                _("digit"): d,
                **{name: values[d] for name, values in scores.items()},
                _("test images"): int(ev.support[d]),
            }
            for d in DIGITS
        ],
        hide_index=True,
        width="stretch",
        column_config={n: st.column_config.NumberColumn(format="%.4f") for n in scores},
    )
    pairs = [f"**{t} → {p}**: {grouped(n)}×" for t, p, n in ev.confused_pairs[:5]]
    if pairs:
        st.markdown(_("Most confused (true → predicted): {pairs}", pairs=" · ".join(pairs)))


def _gallery(ev: views.Evaluation) -> None:
    (_train, _labels), (x_test, y_test) = shared.mnist_arrays()
    st.markdown(
        _(
            "**Misclassified test digits** ({wrong} of {total}), most confident mistakes "
            "first, with the network's top 3 guesses:",
            wrong=grouped(len(ev.wrong)),
            total=grouped(len(y_test)),
        )
    )
    shown = ev.wrong[:GALLERY]
    for start in range(0, len(shown), 8):
        columns = st.columns(8)
        for column, index in zip(columns, shown[start : start + 8], strict=False):
            top = ev.top3(index)
            column.image(
                views.display_image(x_test[index], 84),
                caption=_(
                    "true {digit} · {guesses}",
                    digit=y_test[index],
                    guesses=", ".join(f"{d}: {views.percent(p, 2)}" for d, p in top),
                ),
            )


def _tutorial_grid(ev: views.Evaluation) -> None:
    (_train, _labels), (x_test, y_test) = shared.mnist_arrays()
    st.markdown(
        _(
            "**The tutorial's figure**: the first 25 test images with the network's "
            "answer; wrong answers are framed in red."
        )
    )
    for row in range(5):
        columns = st.columns(5)
        for column, index in zip(columns, range(row * 5, row * 5 + 5), strict=True):
            right = ev.predicted[index] == y_test[index]
            picture = views.framed(255 - x_test[index], ok=right)  # ink on paper, as cmap=binary
            if right:
                caption = _("Predicted: {digit}", digit=ev.predicted[index])
            else:
                caption = _(
                    "Predicted: {digit} ✗ (true {true})",
                    digit=ev.predicted[index],
                    true=y_test[index],
                )
            column.image(views.display_image(picture, 84), caption=caption)


def render(trained: shared.Trained | None) -> None:
    """Draw the Evaluate tab."""
    if trained is None:
        shared.offer_training("evaluate")
        return
    with st.spinner(_("Scoring the 10,000 test images…")):
        ev = _evaluation(trained.key, trained.token, trained)
    m = trained.result.metrics
    c = st.columns(3)
    c[0].metric(
        _("Test accuracy"),
        views.percent(m["test_accuracy"], 4),
        help=_("Share of the 10,000 test images read correctly; never seen in training."),
    )
    c[1].metric(
        _("Test loss"), number(m["test_loss"]), help=_("Mean cross-entropy on the test set.")
    )
    c[2].metric(
        _("Mistakes"),
        _("{wrong} of {total}", wrong=grouped(len(ev.wrong)), total=grouped(len(ev.predicted))),
    )
    _confusion(ev)
    _per_class(ev)
    _gallery(ev)
    _tutorial_grid(ev)
    with st.expander(_("Going deeper")):
        st.markdown(_(GOING_DEEPER))


GOING_DEEPER = N_("""
- **Test images are never trained on**, so the test accuracy estimates how the network does
  on new handwriting — as long as it looks like MNIST (see *Read my digit*).
- **Accuracy alone hides which digits suffer.** Precision and recall per digit show it: a
  network that calls every unsure image a 1 has high recall for 1 but low precision.
- **The confusion matrix** counts every (true, predicted) pair; its diagonal sums to the
  number of correct answers. Typical confusions are digits whose shapes differ by one
  stroke, such as 4 and 9 — many of those images would fool people too.
- **Confidence is not correctness**: some mistakes come with 99 % probability. The softmax
  makes the scores add up to 1; it does not know what it has never seen.
""")
