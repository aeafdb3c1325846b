"""MNIST page, tab 4: what each layer of the network sees."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st

from dlcore import mnist_views as views
from dlcore.i18n import N_, _
from ui.mnist import shared
from ui.mnist.digit import probability_figure

PAGE_WIDTH = 1200  # pixels a full-width chart spans on a desktop screen
LAYER_TEXT = {
    "conv1": N_(
        "Each of the first layer's filters lights up where its pattern (an edge, a "
        "stroke end…) appears in the image."
    ),
    "pool1": N_(
        "Pooling keeps the strongest response in each 2×2 patch: half the size, same "
        "patterns, a little shift-tolerant."
    ),
    "conv2": N_(
        "The second convolution combines the first layer's maps into larger parts of "
        "digits: loops, corners, crossings."
    ),
    "pool2": N_(
        "After the second pooling only 5×5 positions remain: a coarse map of which parts "
        "are where. The dense layer reads these numbers."
    ),
}


IMAGE_SOURCES = {"test": N_("A test image"), "mine": N_("My digit (from Read my digit)")}


@st.cache_data(max_entries=64, show_spinner=False)
def _maps(key: str, token: str, image_bytes: bytes, _trained: shared.Trained):
    from dlcore import inference

    image = np.frombuffer(image_bytes, np.uint8).reshape(28, 28)
    return inference.feature_maps(_trained.model, image)


@st.cache_data(max_entries=4, show_spinner=False)
def _filters(key: str, token: str, _trained: shared.Trained) -> np.ndarray:
    from dlcore import inference

    return inference.first_layer_filters(_trained.model)


def _choose_image() -> tuple[np.ndarray, str]:
    _train, (x_test, y_test) = shared.mnist_arrays()
    own = st.session_state.get(shared.DIGIT)
    options = ["test"] + (["mine"] if own is not None else [])
    left, right = st.columns([2, 1])
    source = left.radio(
        _("Image"),
        options,
        # Labels read now, in this run's language (AppTest calls format_func outside the run).
        format_func={source: _(label) for source, label in IMAGE_SOURCES.items()}.get,
        horizontal=True,
        key="mnist_inside_source",
    )
    if source == "test":
        index = right.number_input(
            _("Test image number"), 0, len(x_test) - 1, 0, key="mnist_inside_index"
        )
        return x_test[index], _(
            "Input: test image {index} (a {digit})", index=index, digit=int(y_test[index])
        )
    return own, _("Input: your digit")


def _layer(name: str, maps: np.ndarray) -> None:
    height, width, channels = maps.shape
    shape = _(
        "**{layer}** — {channels} maps of {height}×{width}.",
        layer=name,
        channels=channels,
        height=height,
        width=width,
    )
    if name in LAYER_TEXT:  # two sentences: a space between them in English, none in Chinese
        shape = _("{shape} {explanation}", shape=shape, explanation=_(LAYER_TEXT[name]))
    st.markdown(shape)
    grid = views.tile_channels(maps, columns=16)
    fig = px.imshow(grid, binary_string=True)
    fig.update_traces(hovertemplate=_("row %{y}, column %{x}: %{z[0]}") + "<extra></extra>")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    # As tall as the grid is at the page's width, so no blank bands above and below.
    height = int(np.clip(PAGE_WIDTH * grid.shape[0] / grid.shape[1], 80, 700))
    fig.update_layout(height=height, margin={"t": 0, "b": 0, "l": 0, "r": 0})
    st.plotly_chart(fig, key=f"mnist_maps_{name}")


def _filters_figure(trained: shared.Trained) -> None:
    kernels = _filters(trained.key, trained.token, trained)
    st.markdown(
        _(
            "**The first layer's learned filters** (3×3 weights each): red weights respond "
            "to ink, blue to background. Each is scaled to its own largest weight."
        )
    )
    fig = px.imshow(
        views.tile_filters(kernels, columns=16), color_continuous_scale="RdBu_r", zmin=-1, zmax=1
    )
    fig.update_traces(hovertemplate=_("row %{y}, column %{x}: %{z}") + "<extra></extra>")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=220, margin={"t": 0, "b": 0, "l": 0, "r": 0})
    st.plotly_chart(fig, key="mnist_filters")


def _softmax(trained: shared.Trained, image: np.ndarray) -> None:
    probabilities = shared.predictor_for(trained).predict(image[None])[0]
    label = int(np.argmax(probabilities))
    title = _("Softmax output: the network says {digit}", digit=label)
    st.plotly_chart(probability_figure(probabilities, title), key="mnist_inside_softmax")


def render(trained: shared.Trained | None) -> None:
    """Draw the Look-inside tab."""
    if trained is None:
        shared.offer_training("inside")
        return
    st.write(
        _(
            "Follow one image through the network. Bright pixels in a map mean the filter "
            "found its pattern there; black means nothing found."
        )
    )
    image, caption = _choose_image()
    left, right = st.columns([1, 3])
    left.image(views.display_image(image, 140), caption=caption)
    with right:
        _softmax(trained, image)
    for name, maps in _maps(trained.key, trained.token, image.tobytes(), trained):
        _layer(name, maps)
    _filters_figure(trained)
    with st.expander(_("Going deeper")):
        st.markdown(_(GOING_DEEPER))


GOING_DEEPER = N_("""
- **A feature map** is the output of one filter slid over the whole input: the same 3×3
  weights at every position, so a pattern is found wherever it is. Each map here is divided by
  its own maximum so that weak maps stay visible; a map that is entirely black found nothing
  (ReLU turned every negative response into 0).
- **Shapes shrink**: a 3×3 convolution without padding loses one pixel at each border
  (28 → 26), pooling halves (26 → 13), then 13 → 11 → 5. With the default 64 filters the
  last 5×5×64 = 1,600 numbers are all the dense layer sees.
- **First-layer filters** look at raw pixels, so they can be drawn as tiny images; deeper
  filters mix dozens of maps and no longer look like anything.
""")
