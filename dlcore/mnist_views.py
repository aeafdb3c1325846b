"""What the MNIST page shows, computed: data exploration, curves, model views, downloads.

The MNIST page is UI only; every number and image it draws comes from here, where a test
runs it without Streamlit. Only NumPy and Pillow are imported at module level: functions
that receive a Keras model use it as an object, and Keras is imported only where a model
has to be saved.

Example:
    >>> labels = np.array([0, 1, 1, 9], dtype=np.uint8)
    >>> class_counts(labels).tolist()
    [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dlcore import metrics, readable
from dlcore.arithmetic import ceil_div
from dlcore.configs import MNIST_BOUNDS, MnistConfig
from dlcore.history import epoch_rows
from dlcore.i18n import Message, _

# The page shows the model's input scaling from here: one implementation, in dlcore.pixels.
from dlcore.pixels import NORMALIZATION_LATEX, normalize  # noqa: F401 - part of this API

NUM_CLASSES = 10
IMAGE_SIDE = 28
KERNEL = 3  # both convolutions are 3x3, as in the tutorial
POOL = 2  # both poolings are 2x2

# The page's controls use the bounds MnistConfig validates (a test checks they agree).
CONTROL_BOUNDS = MNIST_BOUNDS
BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)

_CHUNK = 1 << 20  # pixels counted at a time by pixel_stats


def normalization_latex() -> str:
    r"""The normalization formula with its word in the reader's language (only the
    ``\text{…}`` changes: the formula is ``NORMALIZATION_LATEX``, the model's own).

    >>> normalization_latex() == NORMALIZATION_LATEX
    True
    """
    word = _("normalized")
    return NORMALIZATION_LATEX.replace(r"\text{normalized}", rf"\text{{{word}}}")


# ---------------------------------------------------------------------------------------
# Exploring the data
# ---------------------------------------------------------------------------------------


def percent(share: float, digits: int = 3) -> str:
    """A share of 1 as a percentage with ``digits`` significant digits, via dlcore.readable.

    >>> percent(0.80869), percent(0.59), percent(0.99996), percent(2.4e-7)
    ('80.9 %', '59 %', '100 %', '2.4×10⁻⁵ %')
    """
    return f"{readable.number(100 * share, digits)} %"


def class_counts(labels: np.ndarray) -> np.ndarray:
    """Number of images of each digit 0-9 (the class balance)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)


def samples_by_class(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Random image indices, ``per_class`` for each digit, drawn without replacement.

    Returns:
        An int array of shape (10, per_class): row d holds indices of images labelled d.

    Raises:
        ValueError: per_class is below 1 or more than the rarest digit has.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for digit in range(NUM_CLASSES):
        pool = np.flatnonzero(np.asarray(labels) == digit)
        if not 1 <= per_class <= pool.size:
            raise ValueError(f"per_class must be between 1 and {pool.size}, got {per_class}")
        rows.append(np.sort(rng.choice(pool, size=per_class, replace=False)))
    return np.stack(rows)


def tile(images: np.ndarray, columns: int, gap: int = 2, fill: float = 0) -> np.ndarray:
    """Lay out equally sized 2-D images in a grid, row by row, for a single picture.

    Args:
        images: Array (N, H, W).
        columns: Images per row; the last row is padded with ``fill``.
        gap: Pixels of ``fill`` between neighbours.
        fill: Value of the gaps and of empty cells.

    Returns:
        An array (rows * (H + gap) - gap, columns * (W + gap) - gap) of the images' dtype.
    """
    images = np.asarray(images)
    count, height, width = images.shape
    if count < 1 or columns < 1:
        raise ValueError("tile needs at least one image and one column")
    rows = ceil_div(count, columns)
    out = np.full(
        (rows * (height + gap) - gap, columns * (width + gap) - gap), fill, dtype=images.dtype
    )
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        out[top : top + height, left : left + width] = image
    return out


@dataclass(frozen=True)
class PixelStats:
    """Brightness statistics of a set of uint8 images (0 = background, 255 = full ink).

    Attributes:
        histogram: Number of pixels at each level 0..255.
        mean: Mean brightness (0-255).
        std: Standard deviation of the brightness.
        fraction_black: Share of pixels exactly 0 (the background).
        fraction_white: Share of pixels exactly 255 (fully inked).
        mean_ink: Mean brightness of the non-zero pixels.
    """

    histogram: np.ndarray
    mean: float
    std: float
    fraction_black: float
    fraction_white: float
    mean_ink: float


def pixel_stats(images: np.ndarray) -> PixelStats:
    """Exact brightness statistics of uint8 images, all derived from one 256-bin histogram.

    Counting levels avoids a float copy of the pixels (60,000 images are 47 million), and
    counting in chunks keeps bincount's int64 copy small (and the whole ~10x faster).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"pixel_stats expects uint8 images, got {images.dtype}")
    flat = images.reshape(-1)
    histogram = np.zeros(256, dtype=np.int64)
    for start in range(0, flat.size, _CHUNK):
        histogram += np.bincount(flat[start : start + _CHUNK], minlength=256)
    levels = np.arange(256, dtype=np.float64)
    total = float(histogram.sum())
    mean = float(histogram @ levels) / total
    variance = float(histogram @ (levels - mean) ** 2) / total
    ink = histogram[1:]
    mean_ink = float(ink @ levels[1:]) / float(ink.sum()) if ink.sum() else 0.0
    return PixelStats(
        histogram=histogram,
        mean=mean,
        std=variance**0.5,
        fraction_black=float(histogram[0]) / total,
        fraction_white=float(histogram[255]) / total,
        mean_ink=mean_ink,
    )


def class_means(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The average image of each digit, (10, 28, 28) float32 in 0-255."""
    labels = np.asarray(labels)
    return np.stack(
        [images[labels == d].mean(axis=0, dtype=np.float64) for d in range(NUM_CLASSES)]
    ).astype(np.float32)


def ink_window(image: np.ndarray, size: int = 6) -> tuple[int, int]:
    """Top-left corner of the size x size window holding the most ink (for a pixel table)."""
    image = np.asarray(image, dtype=np.int64)
    if not 1 <= size <= min(image.shape):
        raise ValueError(f"size must be between 1 and {min(image.shape)}, got {size}")
    integral = np.pad(image.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(row), int(col)


# ---------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curves:
    """Loss and accuracy over training, ready to plot.

    Attributes:
        batch_x: Position of each logged batch in epochs (e.g. 1.5 = half-way in epoch 2).
        batch: Per-batch training values by metric name ("loss", "accuracy"): Keras' running
            mean over the epoch so far.
        epoch_x: 1, 2, ... one per finished epoch.
        epoch: Per-epoch values by metric name ("loss", "accuracy", "val_loss", ...).
    """

    batch_x: np.ndarray
    batch: dict[str, np.ndarray]
    epoch_x: np.ndarray
    epoch: dict[str, np.ndarray]


def training_curves(
    history: Sequence[Mapping[str, float]],
    batch_logs: Sequence[Mapping[str, float]] = (),
    batches_per_epoch: int = 0,
) -> Curves:
    """Turn a job's per-epoch rows and per-batch logs into plottable series.

    Args:
        history: One dict per finished epoch (a JobSnapshot's ``history``).
        batch_logs: Dicts with 1-based ``epoch`` and ``batch`` plus metric values.
        batches_per_epoch: Batches in one epoch; 0 places each batch at its epoch's end.
    """
    names = list(dict.fromkeys(name for row in history for name in row))
    epoch = {n: np.array([row.get(n, np.nan) for row in history], dtype=float) for n in names}
    per = max(int(batches_per_epoch), 1)
    batch_x = np.array(
        [
            row["epoch"] - 1 + (row["batch"] / per if batches_per_epoch else 1.0)
            for row in batch_logs
        ],
        dtype=float,
    )
    metrics = [n for n in ("loss", "accuracy") if any(n in row for row in batch_logs)]
    batch = {n: np.array([row.get(n, np.nan) for row in batch_logs], dtype=float) for n in metrics}
    return Curves(batch_x, batch, np.arange(1, len(history) + 1, dtype=float), epoch)


def history_csv(history: Mapping[str, Sequence[float]], best_epoch: int | None = None) -> bytes:
    """The per-epoch history as CSV bytes, one row per epoch, the kept epoch marked.

    Args:
        history: Keras-style ``{"loss": [...], "val_accuracy": [...], ...}``.
        best_epoch: 0-based index of the epoch whose weights the model kept, if known.
    """
    names = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *names, "kept"])
    for i, row in enumerate(epoch_rows(history)):
        writer.writerow([i + 1, *(row.get(n, "") for n in names), "yes" if i == best_epoch else ""])
    return buffer.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerParams:
    """One layer's parameter count, with the arithmetic that gives it.

    ``formula`` (and the name of a batch normalization's statistics row) are Messages,
    read in the learner's language where they are shown (``str()``).
    """

    name: str | Message
    output_shape: tuple[int, ...]
    formula: Message
    count: int
    trainable: bool = True


def _conv_layers(config: MnistConfig) -> tuple[list[LayerParams], int, int]:
    """Parameters of conv → (BN) → pool, twice; returns rows, final side and channels."""
    rows: list[LayerParams] = []
    side, channels = IMAGE_SIDE, 1
    for i, filters in ((1, config.conv1_filters), (2, config.conv2_filters)):
        side -= KERNEL - 1  # a 3x3 'valid' convolution loses one pixel on each border
        count = (KERNEL * KERNEL * channels + 1) * filters
        formula = Message(
            "({kernel}×{kernel}×{channels} weights + 1 bias) × {filters} filters",
            kernel=KERNEL,
            channels=channels,
            filters=filters,
        )
        rows.append(LayerParams(f"conv{i}", (side, side, filters), formula, count))
        if config.batch_norm:
            formula = Message("2 × {filters} (scale γ, shift β)", filters=filters)
            layer = f"bn{i}"
            rows.append(LayerParams(layer, (side, side, filters), formula, 2 * filters))
            formula = Message(
                "2 × {filters} (moving mean and variance, not trained)", filters=filters
            )
            name = Message("{layer} (statistics)", layer=layer)
            rows.append(LayerParams(name, (), formula, 2 * filters, False))
        side //= POOL
        rows.append(LayerParams(f"pool{i}", (side, side, filters), Message("no weights"), 0))
        channels = filters
    return rows, side, channels


def parameter_table(config: MnistConfig) -> list[LayerParams]:
    """Every layer's parameter count for a config, computed by hand from the architecture.

    The sum equals Keras' ``model.count_params()`` for ``build_cnn(config)`` (a test
    checks it), so the page can show where each of the numbers comes from.
    """
    rows, side, channels = _conv_layers(config)
    flat = side * side * channels
    units = config.dense_units
    formula = Message("{side}×{side}×{channels} values in a row", side=side, channels=channels)
    rows.append(LayerParams("flatten", (flat,), formula, 0))
    formula = Message("({inputs} inputs + 1 bias) × {units} units", inputs=flat, units=units)
    rows.append(LayerParams("dense", (units,), formula, (flat + 1) * units))
    if config.dropout > 0:
        rows.append(LayerParams("dropout", (units,), Message("no weights"), 0))
    formula = Message(
        "({inputs} inputs + 1 bias) × {digits} digits", inputs=units, digits=NUM_CLASSES
    )
    rows.append(LayerParams("output", (NUM_CLASSES,), formula, (units + 1) * NUM_CLASSES))
    return rows


def summary_text(model) -> str:
    """Keras' ``model.summary()`` as plain text (the table a learner sees in a notebook)."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text), line_length=66)
    return "\n".join(lines).strip("\n")


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A model's answers on the test set, with everything the Evaluate tab shows.

    Attributes:
        probabilities: (N, 10) softmax outputs.
        predicted: (N,) most probable digit.
        labels: (N,) true digits.
        confusion: (10, 10) counts, rows true digit, columns predicted digit.
        precision, recall, f1, support: per-digit scores (support = test images per digit).
        confused_pairs: (true, predicted, count) off the diagonal, most frequent first.
        wrong: indices of misclassified images, most confident mistake first.
    """

    probabilities: np.ndarray
    predicted: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    confused_pairs: list[tuple[int, int, int]]
    wrong: np.ndarray

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the test images of digit ``true`` that the model read as ``predicted``."""
        return metrics.cell_indices(self.labels, self.predicted, true, predicted)

    def top3(self, index: int) -> list[tuple[int, float]]:
        """The three most probable digits for one image, with their probabilities."""
        return metrics.top_k(self.probabilities[index], 3)


def evaluate(labels: np.ndarray, probabilities: np.ndarray) -> Evaluation:
    """Score a model's softmax outputs against the true labels with dlcore.metrics."""
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    predicted = probabilities.argmax(axis=1)
    confusion = metrics.confusion_matrix(labels, predicted, NUM_CLASSES)
    report = metrics.report_from_confusion(confusion)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != labels)
    return Evaluation(
        probabilities=probabilities,
        predicted=predicted,
        labels=labels,
        confusion=confusion,
        precision=report.precision,
        recall=report.recall,
        f1=report.f1,
        support=report.support,
        confused_pairs=metrics.most_confused_pairs(confusion, top_k=NUM_CLASSES * NUM_CLASSES),
        wrong=wrong[np.argsort(-confidence[wrong], kind="stable")],  # surest mistakes first
    )


def framed(image: np.ndarray, ok: bool, width: int = 2) -> np.ndarray:
    """A gray image as RGB with a colored frame: green when ok, red otherwise."""
    gray = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    color = (40, 160, 60) if ok else (220, 40, 40)
    rgb = np.pad(rgb, ((width, width), (width, width), (0, 0)))
    rgb[:width, :], rgb[-width:, :], rgb[:, :width], rgb[:, -width:] = color, color, color, color
    return rgb


# ---------------------------------------------------------------------------------------
# Looking inside and the drawing canvas
# ---------------------------------------------------------------------------------------


def tile_channels(maps: np.ndarray, columns: int = 8, gap: int = 1) -> np.ndarray:
    """Lay out the channels of one layer's output (H, W, C) as a grid, each scaled to 0-1.

    Each channel is divided by its own maximum so that its pattern is visible whatever its
    scale; a channel that stays at 0 (nothing detected) stays black. Gaps are 0.25 gray.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps of shape (H, W, C), got {maps.shape}")
    channels = np.moveaxis(maps, -1, 0)
    peak = np.abs(channels).max(axis=(1, 2), keepdims=True)
    scaled = np.divide(channels, peak, out=np.zeros_like(channels), where=peak > 0)
    return tile(np.clip(scaled, 0.0, 1.0), min(columns, len(scaled)), gap, fill=0.25)


def tile_filters(kernels: np.ndarray, columns: int = 8, gap: int = 1) -> np.ndarray:
    """Lay out first-layer kernels (kh, kw, 1, F) or (kh, kw, F) as a grid, NaN gaps.

    Values keep their sign (positive weights respond to ink, negative to background);
    each kernel is divided by its largest magnitude so that all share one color scale.
    """
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim == 4:
        kernels = kernels[:, :, 0, :]
    filters = np.moveaxis(kernels, -1, 0)
    peak = np.abs(filters).max(axis=(1, 2), keepdims=True)
    scaled = np.divide(filters, peak, out=np.zeros_like(filters), where=peak > 0)
    return tile(scaled, min(columns, len(scaled)), gap, fill=np.nan)


def display_image(picture: np.ndarray, min_side: int = 112) -> np.ndarray:
    """A uint8 copy of an image for the screen, small ones enlarged with square pixels.

    Float images are taken as 0-1 (the normalized model input); a 28x28 digit becomes
    112x112 with each pixel a 4x4 block, so the browser does not blur it.
    """
    picture = np.asarray(picture)
    if picture.dtype.kind == "f":
        picture = np.round(np.clip(picture, 0.0, 1.0) * 255.0)
    picture = picture.astype(np.uint8)
    factor = ceil_div(min_side, max(picture.shape[:2]))
    if factor > 1:
        picture = picture.repeat(factor, axis=0).repeat(factor, axis=1)
    return picture


def canvas_has_ink(rgba: np.ndarray | None) -> bool:
    """Whether a drawing canvas's RGBA image holds any stroke (a visible pixel)."""
    return rgba is not None and np.asarray(rgba).ndim == 3 and bool(np.asarray(rgba)[..., 3].any())


def canvas_png(rgba: np.ndarray) -> bytes:
    """Encode a canvas's RGBA pixels as PNG bytes, the same input an uploaded file gives."""
    pixels = np.asarray(rgba)
    if pixels.ndim != 3 or pixels.shape[2] != 4:
        raise ValueError(f"expected RGBA pixels of shape (H, W, 4), got {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()
