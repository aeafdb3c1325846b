"""MNIST page, tab 5: the network reads a digit you upload or draw."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dlcore import images
from dlcore import mnist_views as views
from dlcore.errors import InvalidImage
from dlcore.i18n import N_, _
from ui.mnist import shared
from ui.plain_figure import READABLE_AXIS

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
STAGES_PER_ROW = 6
SOURCES = {"upload": N_("Upload a photo"), "draw": N_("Draw it")}
DIGITS = [str(d) for d in range(10)]
PREDICTED, OTHER = "#e4572e", "#9db4c0"
# The winner's value is written above its bar: the axis goes a little past 1 to hold it.
PROBABILITY_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1]
PROBABILITY_RANGE = [0, 1.15]


def probability_figure(probabilities: np.ndarray, title: str) -> go.Figure:
    """The softmax output as ten labelled bars, the winner colored with its value on top."""
    winner = int(np.argmax(probabilities))
    shown = views.percent(float(probabilities[winner]))
    bars = go.Bar(
        x=DIGITS,
        y=probabilities,
        marker_color=[PREDICTED if d == winner else OTHER for d in range(10)],
        text=[shown if d == winner else "" for d in range(10)],
        textposition="outside",
        textfont={"size": 15, "color": "#31333f"},  # the page's text color, not the bar's
        cliponaxis=False,
        hovertemplate=_("digit %{x}: %{customdata}") + "<extra></extra>",
        customdata=[views.percent(float(p)) for p in probabilities],
    )
    fig = go.Figure(bars)
    fig.update_layout(
        title=title,
        height=300,
        margin={"t": 40, "b": 10},
        # A category axis with every tick listed: Plotly reads "0".."9" as numbers and
        # would label only every other digit.
        xaxis={"type": "category", "tickmode": "array", "tickvals": DIGITS, "title": _("digit")},
        yaxis={
            **READABLE_AXIS,
            "range": PROBABILITY_RANGE,
            "tickvals": PROBABILITY_TICKS,
            "title": _("probability"),
        },
    )
    return fig


@st.cache_data(max_entries=32, show_spinner=False)
def _prepare(data: bytes) -> images.PreparedDigit:
    return images.prepare_digit(data)


def _from_upload() -> bytes | None:
    upload = st.file_uploader(
        _("A photo or scan of one handwritten digit"),
        type=UPLOAD_TYPES,
        key="mnist_upload",
        help=_("Dark ink on light paper works best; crop the photo around one digit."),
    )
    return upload.getvalue() if upload is not None else None


def _from_canvas() -> bytes | None:
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([1, 2])
    with left:
        # The canvas's toolbar pops up 2.65rem above it on hover: this empty band holds it,
        # so it never covers the "Your digit" choice above.
        st.space("medium")
        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#000000",
            background_color="",  # transparent: the image holds only the strokes
            height=280,
            width=280,
            drawing_mode="freedraw",
            return_image_data=True,
            key="mnist_canvas",
        )
    right.markdown(
        _(
            "Draw **one digit**, large, with the mouse or a finger; the reading updates when "
            "you lift the pen. The toolbar that appears above the canvas undoes a stroke or "
            "clears it. The drawing goes through exactly the same steps as an uploaded photo."
        )
    )
    rgba = canvas.image_data
    return views.canvas_png(rgba) if views.canvas_has_ink(rgba) else None


def _stages(prepared: images.PreparedDigit) -> None:
    st.markdown(_("**What the network sees, step by step**"))
    stages = prepared.stages
    for start in range(0, len(stages), STAGES_PER_ROW):
        columns = st.columns(STAGES_PER_ROW)
        for column, (name, picture) in zip(
            columns, stages[start : start + STAGES_PER_ROW], strict=False
        ):
            column.image(views.display_image(picture), caption=str(name), width="stretch")


def _prediction(trained: shared.Trained, prepared: images.PreparedDigit) -> None:
    prediction = shared.predictor_for(trained).predict_one(prepared)
    left, right = st.columns([1, 3])
    left.metric(_("I read"), str(prediction.label))
    left.caption(" · ".join(f"{label}: {views.percent(p)}" for label, p in prediction.top3))
    fig = probability_figure(
        prediction.probabilities, _("The network's probabilities (softmax output)")
    )
    right.plotly_chart(fig, key="mnist_digit_probs")
    for warning in prediction.warnings:
        st.warning(str(warning))
    st.caption(_("Open **Look inside** to follow your digit through the network's layers."))


def render(trained: shared.Trained | None) -> None:
    """Draw the Read-my-digit tab."""
    st.write(
        _(
            "Write a digit on paper and upload a photo of it, or draw one below. The image "
            "goes through the same steps that made MNIST's digits, then the network reads it."
        )
    )
    source = st.radio(
        _("Your digit"),
        list(SOURCES),
        # Labels read now, in this run's language (AppTest calls format_func outside the run).
        format_func={source: _(label) for source, label in SOURCES.items()}.get,
        horizontal=True,
        key="mnist_digit_source",
    )
    data = _from_upload() if source == "upload" else _from_canvas()
    if data is None:
        return
    try:
        prepared = _prepare(data)
    except InvalidImage as exc:
        st.error(_("This image cannot be read: {reason}", reason=str(exc)))
        return
    st.session_state[shared.DIGIT] = prepared.uint8
    _stages(prepared)
    if trained is None:
        shared.offer_training("digit")
    else:
        _prediction(trained, prepared)
    with st.expander(_("Going deeper")):
        st.markdown(_(GOING_DEEPER))


GOING_DEEPER = N_("""
- **Why all these steps?** The network only ever saw MNIST digits: light strokes on a black
  field, the digit's longest side 20 pixels, centered by its center of mass in 28×28 pixels.
  A phone photo is dark ink on light, uneven paper, huge and off-center, so it is reshaped
  into exactly that form first; without it the network guesses.
- **Polarity.** If the paper is lighter than the ink, the picture is inverted so that the ink
  becomes light, as in MNIST.
- **Normalization** is the same division by 255 as in training (the model does it itself).
- **Probabilities** come from the softmax of the last layer: ten positive numbers that add
  up to 1. A low top probability means the network is unsure: the shape looks like no digit
  it knows well.
""")
