"""MNIST page, tab 1: look at the data before training anything."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dlcore import mnist_views as views
from dlcore import readable
from dlcore.i18n import N_, _
from ui.mnist.shared import mnist_arrays
from ui.plain_figure import READABLE_AXIS

PATCH = 6  # side of the pixel table that shows the numbers behind the picture
# One drawing convention for every image and table on the tab: the stored value as a gray
# level, 0 (background) black, 255 (full ink) white, as the network's other views draw it.
INK_LIGHT = [[0, "rgb(0, 0, 0)"], [1, "rgb(255, 255, 255)"]]  # exact: value v is rgb(v, v, v)
FULL_INK = 255
PATCH_OUTLINE = "#e4572e"
GAP = 90  # a mid gray between tiled digits: neither background nor ink
CONVENTION = N_(
    "**How to read every image and table here:** each pixel is a number from 0 "
    "(background, drawn black) to 255 (full ink, drawn white), exactly as MNIST stores it "
    "and as the network receives it. The tutorial draws the same numbers with "
    "`cmap=binary`, which shows the ink dark on white; only the colors differ."
)


@st.cache_data(show_spinner=False)
def _train_stats() -> tuple[views.PixelStats, np.ndarray, np.ndarray, np.ndarray]:
    (x_train, y_train), (_x_test, y_test) = mnist_arrays()
    means = views.class_means(x_train, y_train)
    return (
        views.pixel_stats(x_train),
        views.class_counts(y_train),
        views.class_counts(y_test),
        means,
    )


def _first_figure(image: np.ndarray, label: int, top: int, left: int):
    """The tutorial's first figure in this tab's colors, the table's patch outlined."""
    fig = px.imshow(
        image,
        color_continuous_scale=INK_LIGHT,
        zmin=0,
        zmax=FULL_INK,
        title=_("Label: {label}", label=label),
    )
    fig.update_traces(hovertemplate=_("row %{y}, column %{x}: %{z}") + "<extra></extra>")
    # Outline the patch the tables show, so the numbers can be found in the picture.
    fig.add_shape(
        type="rect",
        x0=left - 0.5,
        x1=left + PATCH - 0.5,
        y0=top - 0.5,
        y1=top + PATCH - 0.5,
        line={"color": PATCH_OUTLINE, "width": 2},
    )
    fig.update_layout(
        height=330, margin={"t": 40, "b": 10, "l": 10, "r": 10}, coloraxis_showscale=False
    )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def _ink_cell(value: int) -> str:
    """CSS that shades a table cell like its pixel, with text that stays legible."""
    text = "black" if value > FULL_INK // 2 else "white"
    return f"background-color: rgb({value}, {value}, {value}); color: {text}"


def _patch_table(values: np.ndarray, shades: np.ndarray, rows: range, cols: range):
    """A pixel patch as a table shaded like the picture, each number written by readable."""
    frame = pd.DataFrame(values, index=[str(r) for r in rows], columns=[str(c) for c in cols])
    shading = pd.DataFrame(
        [[_ink_cell(int(v)) for v in row] for row in shades], frame.index, frame.columns
    )
    return frame.style.apply(lambda _: shading, axis=None).format(readable.number)


def _normalization(image: np.ndarray) -> None:
    st.markdown(
        _(
            "**Normalization.** The network receives every pixel divided by 255, so values "
            "run from 0 to 1 instead of 0 to 255. The picture does not change, only the "
            "numbers: small, similar-sized inputs make training steadier."
        )
    )
    st.latex(views.normalization_latex())
    normalized = views.normalize(image)
    st.caption(
        _(
            "Whole image: raw {raw_min} to {raw_max}, normalized {low} to {high}. "
            "In this app the model does the division itself (a Rescaling(1/255) layer), so "
            "training and your uploads are normalized identically.",
            raw_min=readable.number(image.min()),
            raw_max=readable.number(image.max()),
            low=readable.number(normalized.min()),
            high=readable.number(normalized.max()),
        )
    )


def _patch_tables(image: np.ndarray, top: int, left_col: int) -> None:
    """The outlined patch's numbers, raw and normalized, side by side at full width."""
    rows, cols = range(top, top + PATCH), range(left_col, left_col + PATCH)
    pixels = image[top : top + PATCH, left_col : left_col + PATCH]
    left, right = st.columns(2)
    left.caption(
        _(
            "Raw pixels, 0 to 255: the {side}×{side} patch with the most ink (outlined above), "
            "rows and columns numbered as in the image.",
            side=PATCH,
        )
    )
    left.table(_patch_table(pixels, pixels, rows, cols))
    right.caption(_("The same pixels after normalization, 0 to 1."))
    right.table(_patch_table(views.normalize(pixels), pixels, rows, cols))


def _sample_grid(x_train: np.ndarray, y_train: np.ndarray) -> None:
    left, right = st.columns([3, 1])
    per_class = left.slider(_("Samples per digit"), 4, 20, 12, key="mnist_explore_per_class")
    if right.button(_("🔀 Other samples"), key="mnist_explore_shuffle"):
        st.session_state.mnist_explore_seed = st.session_state.get("mnist_explore_seed", 0) + 1
    picked = views.samples_by_class(
        y_train, per_class, st.session_state.get("mnist_explore_seed", 0)
    )
    grid = views.tile(x_train[picked.ravel()], columns=per_class, gap=2, fill=GAP)
    fig = px.imshow(
        grid,
        binary_string=True,
        zmin=0,
        zmax=FULL_INK,
        title=_("Random training images, one row per digit"),
    )
    fig.update_traces(hovertemplate=_("row %{y}, column %{x}: %{z[0]}") + "<extra></extra>")
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
            "set": [_("training")] * 10 + [_("test")] * 10,
        }
    )
    fig = px.bar(
        counts,
        x="digit",
        y="images",
        color="set",
        barmode="group",
        labels={"digit": _("digit"), "images": _("images"), "set": _("set")},
        title=_("Class balance: images of each digit"),
    )
    fig.update_layout(
        height=340, margin={"t": 40, "b": 10}, xaxis_type="category", yaxis=READABLE_AXIS
    )
    st.plotly_chart(fig, key="mnist_balance")
    st.caption(
        _(
            "The rarest digit in training has {rarest} images and the most common {commonest}: "
            "close enough that the network sees every digit often.",
            rarest=readable.grouped(train_counts.min()),
            commonest=readable.grouped(train_counts.max()),
        )
    )
    c = st.columns(4)
    c[0].metric(_("Mean brightness"), f"{readable.number(stats.mean)} / 255")
    c[1].metric(_("Standard deviation"), readable.number(stats.std))
    c[2].metric(_("Black background pixels"), views.percent(stats.fraction_black))
    c[3].metric(_("Mean of inked pixels"), f"{readable.number(stats.mean_ink)} / 255")
    hist = px.bar(
        x=np.arange(256),
        y=stats.histogram,
        log_y=True,
        labels={
            "x": _("pixel value (0 = background, 255 = full ink)"),
            "y": _("pixels (log scale)"),
        },
        title=_("Pixel-intensity histogram of all 60,000 training images"),
    )
    hist.update_layout(
        height=320, margin={"t": 40, "b": 10}, xaxis=READABLE_AXIS, yaxis=READABLE_AXIS
    )
    st.plotly_chart(hist, key="mnist_pixel_hist")
    st.markdown(_("**The average image of each digit, 0 to 9**"))
    # An image, not a chart: it keeps its proportions at any width, with no empty bands.
    mean_strip = views.tile(np.round(means).astype(np.uint8), columns=10, gap=2, fill=GAP)
    st.image(
        views.display_image(mean_strip, 4 * mean_strip.shape[1]),
        caption=_("Each pixel is that pixel's mean over all training images of the digit."),
        width="stretch",
        output_format="PNG",  # exact gray levels; JPEG would smear the pixel edges
    )
    return stats, train_counts


def render() -> None:
    """Draw the Explore tab."""
    (x_train, y_train), _test = mnist_arrays()
    st.write(
        _(
            "MNIST holds 70,000 scans of handwritten digits, 28×28 pixels each, in shades of "
            "gray: 60,000 to train on and 10,000 kept aside to test. Each comes with its "
            "**label**, the digit a person wrote. Here is the first figure of the tutorial:"
        )
    )
    st.markdown(_(CONVENTION))
    left, right = st.columns([2, 3])
    index = left.number_input(
        _("Training image number"), 0, len(x_train) - 1, 0, key="mnist_explore_index"
    )
    image = x_train[index]
    top, left_col = views.ink_window(image, PATCH)
    left.plotly_chart(_first_figure(image, y_train[index], top, left_col), key="mnist_first_figure")
    with right:
        _normalization(image)
    _patch_tables(image, top, left_col)
    _sample_grid(x_train, y_train)
    stats, counts = _balance_and_pixels()
    with st.expander(_("Going deeper")):
        st.markdown(
            "\n".join(
                (
                    _(
                        "- **Why gray, 28×28?** MNIST's authors scaled each digit to fit a "
                        "20×20 box and centered it by its center of mass in a 28×28 field; "
                        "your own photos go through the same steps on the *Read my digit* tab."
                    ),
                    _(
                        "- **Most pixels are background.** {share} of all pixels are exactly "
                        "0, so the histogram is drawn on a log scale; the strokes' cores are "
                        "near 255.",
                        share=views.percent(stats.fraction_black, 2),
                    ),
                    _(
                        "- **Balanced classes** make accuracy a fair summary: always guessing "
                        "the most common digit would score only {share}.",
                        share=views.percent(counts.max() / counts.sum(), 2),
                    ),
                )
            )
        )
