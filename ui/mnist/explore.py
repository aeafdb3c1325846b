"""MNIST page, tab 1: look at the data before training anything."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dlcore import mnist_views as views
from ui.mnist.shared import mnist_arrays

PATCH = 6  # side of the pixel table that shows the numbers behind the picture
INK_ON_PAPER = "gray_r"  # the tutorial's cmap=binary: 0 is white paper, 255 black ink


@st.cache_data(show_spinner=False)
def _train_stats() -> tuple[views.PixelStats, np.ndarray, np.ndarray, np.ndarray]:
    (x_train, y_train), (_, y_test) = mnist_arrays()
    means = views.class_means(x_train, y_train)
    return (
        views.pixel_stats(x_train),
        views.class_counts(y_train),
        views.class_counts(y_test),
        means,
    )


def _image_figure(image: np.ndarray, title: str, scale: str = INK_ON_PAPER, **kwargs):
    fig = px.imshow(image, color_continuous_scale=scale, title=title, **kwargs)
    fig.update_layout(
        height=330, margin={"t": 40, "b": 10, "l": 10, "r": 10}, coloraxis_showscale=False
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def _first_figure(x_train: np.ndarray, y_train: np.ndarray) -> int:
    """The tutorial's first figure: one training image with its label."""
    index = st.number_input(
        "Training image number", 0, len(x_train) - 1, 0, key="mnist_explore_index"
    )
    image = x_train[index]
    st.plotly_chart(_image_figure(image, f"Label: {y_train[index]}"), key="mnist_first_figure")
    return int(index)


def _normalization(image: np.ndarray) -> None:
    st.markdown(
        "**Normalization.** The network receives every pixel divided by 255, so values "
        "run from 0 (black) to 1 (white) instead of 0 to 255. The picture does not change, "
        "only the numbers: small, similar-sized inputs make training steadier."
    )
    st.latex(views.NORMALIZATION_LATEX)
    normalized = views.normalize(image)
    top, left_col = views.ink_window(image, PATCH)
    rows, cols = range(top, top + PATCH), range(left_col, left_col + PATCH)
    patch = (slice(top, top + PATCH), slice(left_col, left_col + PATCH))
    left, right = st.columns(2)
    left.caption(f"Raw pixels, 0–255 (the {PATCH}×{PATCH} patch with the most ink)")
    left.dataframe(pd.DataFrame(image[patch], rows, cols), width="stretch")
    right.caption("The same pixels after normalization, 0–1")
    right.dataframe(pd.DataFrame(normalized[patch], rows, cols).round(3), width="stretch")
    st.caption(
        f"Whole image: raw {image.min()}–{image.max()}, normalized "
        f"{normalized.min():.0f}–{normalized.max():.0f}. In this app the model does the "
        "division itself (a Rescaling(1/255) layer), so training and your uploads are "
        "normalized identically."
    )


def _sample_grid(x_train: np.ndarray, y_train: np.ndarray) -> None:
    left, right = st.columns([3, 1])
    per_class = left.slider("Samples per digit", 4, 20, 12, key="mnist_explore_per_class")
    if right.button("🔀 Other samples", key="mnist_explore_shuffle"):
        st.session_state.mnist_explore_seed = st.session_state.get("mnist_explore_seed", 0) + 1
    picked = views.samples_by_class(
        y_train, per_class, st.session_state.get("mnist_explore_seed", 0)
    )
    grid = views.tile(x_train[picked.ravel()], columns=per_class, gap=2, fill=90)
    fig = px.imshow(grid, binary_string=True, title="Random training images, one row per digit")
    step = 28 + 2
    fig.update_yaxes(
        tickvals=[14 + step * d for d in range(10)], ticktext=[str(d) for d in range(10)]
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=520, margin={"t": 40, "b": 10, "l": 10, "r": 10})
    st.plotly_chart(fig, key="mnist_sample_grid")


def _balance_and_pixels() -> tuple[views.PixelStats, np.ndarray]:
    stats, train_counts, test_counts, means = _train_stats()
    counts = pd.DataFrame(
        {
            "digit": [str(d) for d in range(10)] * 2,
            "images": [*train_counts, *test_counts],
            "set": ["training"] * 10 + ["test"] * 10,
        }
    )
    fig = px.bar(
        counts,
        x="digit",
        y="images",
        color="set",
        barmode="group",
        title="Class balance: images of each digit",
    )
    fig.update_layout(height=340, margin={"t": 40, "b": 10}, xaxis_type="category")
    st.plotly_chart(fig, key="mnist_balance")
    st.caption(
        f"The rarest digit in training has {train_counts.min():,} images and the most common "
        f"{train_counts.max():,}: close enough that the network sees every digit often."
    )
    c = st.columns(4)
    c[0].metric("Mean brightness", f"{stats.mean:.1f} / 255")
    c[1].metric("Standard deviation", f"{stats.std:.1f}")
    c[2].metric("Black background pixels", f"{stats.fraction_black:.1%}")
    c[3].metric("Mean of inked pixels", f"{stats.mean_ink:.0f} / 255")
    hist = px.bar(
        x=np.arange(256),
        y=stats.histogram,
        log_y=True,
        labels={"x": "pixel value (0 = black, 255 = white)", "y": "pixels (log scale)"},
        title="Pixel-intensity histogram of all 60,000 training images",
    )
    hist.update_layout(height=320, margin={"t": 40, "b": 10})
    st.plotly_chart(hist, key="mnist_pixel_hist")
    mean_grid = views.tile(means, columns=10, gap=2, fill=0)
    st.plotly_chart(
        _image_figure(mean_grid, "The average image of each digit, 0 to 9", scale="gray"),
        key="mnist_means",
    )
    return stats, train_counts


def render() -> None:
    """Draw the Explore tab."""
    (x_train, y_train), _ = mnist_arrays()
    st.write(
        "MNIST holds 70,000 photos of handwritten digits, 28×28 pixels each, in shades of gray: "
        "60,000 to train on and 10,000 kept aside to test. Each comes with its **label**, the "
        "digit a person wrote. Here is the first figure of the tutorial:"
    )
    left, right = st.columns([2, 3])
    with left:
        index = _first_figure(x_train, y_train)
    with right:
        _normalization(x_train[index])
    _sample_grid(x_train, y_train)
    stats, counts = _balance_and_pixels()
    with st.expander("Going deeper"):
        st.markdown(
            "- **Why gray, 28×28?** MNIST's authors scaled each digit to fit a 20×20 box "
            "and centered it by its center of mass in a 28×28 field; your own photos go "
            "through the same steps on the *Read my digit* tab.\n"
            "- **Light on dark.** The files store ink as high values (255) on a 0 "
            "background; the tutorial draws them with `cmap=binary`, which shows 0 as white, "
            "which is why the first figure looks like ink on paper.\n"
            f"- **Most pixels are background.** {stats.fraction_black:.0%} of all pixels are "
            "exactly 0, so the histogram is drawn on a log scale; the strokes' cores are near "
            "255.\n"
            "- **Balanced classes** make accuracy a fair summary: always guessing the most "
            f"common digit would score only {counts.max() / counts.sum():.0%}."
        )
