"""MNIST page, tab 5: the network reads a digit you upload or draw."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dlcore import images
from dlcore import mnist_views as views
from dlcore.errors import InvalidImage
from ui.mnist import shared

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
STAGES_PER_ROW = 6


@st.cache_data(max_entries=32, show_spinner=False)
def _prepare(data: bytes) -> images.PreparedDigit:
    return images.prepare_digit(data)


def _from_upload() -> bytes | None:
    upload = st.file_uploader(
        "A photo or scan of one handwritten digit",
        type=UPLOAD_TYPES,
        key="mnist_upload",
        help="Dark ink on light paper works best; crop the photo around one digit.",
    )
    return upload.getvalue() if upload is not None else None


def _from_canvas() -> bytes | None:
    from streamlit_drawable_canvas import st_canvas

    left, right = st.columns([1, 2])
    with left:
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
        "Draw **one digit**, large, with the mouse or a finger; the reading updates when "
        "you lift the pen. The toolbar above the canvas undoes a stroke or clears it. "
        "The drawing goes through exactly the same steps as an uploaded photo."
    )
    rgba = canvas.image_data
    return views.canvas_png(rgba) if views.canvas_has_ink(rgba) else None


def _stages(prepared: images.PreparedDigit) -> None:
    st.markdown("**What the network sees, step by step**")
    stages = prepared.stages
    for start in range(0, len(stages), STAGES_PER_ROW):
        columns = st.columns(STAGES_PER_ROW)
        for column, (name, picture) in zip(
            columns, stages[start : start + STAGES_PER_ROW], strict=False
        ):
            column.image(views.display_image(picture), caption=name, width="stretch")


def _prediction(trained: shared.Trained, prepared: images.PreparedDigit) -> None:
    prediction = shared.predictor_for(trained).predict_one(prepared)
    left, right = st.columns([1, 3])
    left.metric("I read", str(prediction.label))
    left.caption(" · ".join(f"{label}: {p:.1%}" for label, p in prediction.top3))
    fig = px.bar(
        x=[str(d) for d in range(10)],
        y=prediction.probabilities,
        labels={"x": "digit", "y": "probability"},
        title="The network's probabilities (softmax output)",
    )
    fig.update_traces(
        marker_color=["#e4572e" if d == prediction.label else "#9db4c0" for d in range(10)]
    )
    fig.update_layout(height=300, yaxis_range=[0, 1], margin={"t": 40, "b": 10})
    right.plotly_chart(fig, key="mnist_digit_probs")
    for warning in prediction.warnings:
        st.warning(warning)
    st.caption("Open **Look inside** to follow your digit through the network's layers.")


def render(trained: shared.Trained | None) -> None:
    """Draw the Read-my-digit tab."""
    st.write(
        "Write a digit on paper and upload a photo of it, or draw one below. The image goes "
        "through the same steps that made MNIST's digits, then the network reads it."
    )
    source = st.radio(
        "Your digit", ["Upload a photo", "Draw it"], horizontal=True, key="mnist_digit_source"
    )
    data = _from_upload() if source == "Upload a photo" else _from_canvas()
    if data is None:
        return
    try:
        prepared = _prepare(data)
    except InvalidImage as exc:
        st.error(f"This image cannot be read: {exc}")
        return
    st.session_state[shared.DIGIT] = prepared.uint8
    _stages(prepared)
    if trained is None:
        shared.offer_training("digit")
    else:
        _prediction(trained, prepared)
    with st.expander("Going deeper"):
        st.markdown(GOING_DEEPER)


GOING_DEEPER = """
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
"""
