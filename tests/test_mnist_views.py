"""dlcore.mnist_views: what the MNIST page shows, checked against independent computations."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

from dlcore import mnist_views as views
from dlcore.configs import MNIST_QUICK, MnistConfig


def test_class_counts_counts_every_digit_including_absent_ones():
    labels = np.array([3, 3, 7, 0, 3], dtype=np.uint8)
    assert views.class_counts(labels).tolist() == [1, 0, 0, 3, 0, 0, 0, 1, 0, 0]


def test_samples_by_class_returns_distinct_indices_of_the_right_digit_and_is_seeded():
    labels = np.repeat(np.arange(10), 7)
    np.random.default_rng(1).shuffle(labels)
    picked = views.samples_by_class(labels, 5, seed=3)
    assert picked.shape == (10, 5)
    for digit, row in enumerate(picked):
        assert (labels[row] == digit).all()
        assert len(set(row.tolist())) == 5
    assert (views.samples_by_class(labels, 5, seed=3) == picked).all()
    assert not (views.samples_by_class(labels, 5, seed=4) == picked).all()
    with pytest.raises(ValueError, match="between 1 and 7"):
        views.samples_by_class(labels, 8)


def test_tile_places_each_image_in_reading_order_with_gaps():
    images = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    grid = views.tile(images, columns=2, gap=1, fill=-1)
    assert grid.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert (grid[0:2, 0:3] == images[0]).all()
    assert (grid[0:2, 4:7] == images[1]).all()
    assert (grid[6:8, 0:3] == images[4]).all()
    assert (grid[6:8, 4:7] == -1).all()  # the empty cell after the last image
    assert (grid[2, :] == -1).all()


def test_pixel_stats_match_numpy_on_the_pixels_themselves():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    images[:5] = 0
    images[0, 0, :4] = 255
    stats = views.pixel_stats(images)
    flat = images.astype(np.float64).ravel()
    assert stats.mean == pytest.approx(flat.mean())
    assert stats.std == pytest.approx(flat.std())
    assert stats.fraction_black == pytest.approx((flat == 0).mean())
    assert stats.fraction_white == pytest.approx((flat == 255).mean())
    assert stats.mean_ink == pytest.approx(flat[flat > 0].mean())
    assert stats.histogram.sum() == flat.size
    with pytest.raises(ValueError, match="uint8"):
        views.pixel_stats(images.astype(np.float32))


def test_class_means_average_the_images_of_each_digit():
    images = np.zeros((4, 28, 28), np.uint8)
    images[0, 0, 0], images[1, 0, 0] = 100, 200
    labels = np.concatenate([[2, 2, 5, 5], np.arange(10)]).astype(np.uint8)
    images = np.concatenate([images, np.zeros((10, 28, 28), np.uint8)])
    means = views.class_means(images, labels)
    assert means.shape == (10, 28, 28)
    assert means[2, 0, 0] == pytest.approx((100 + 200 + 0) / 3)
    assert means[5].max() == 0


def test_normalization_shown_is_what_the_model_computes():
    """The formula x/255 on the page equals the output of the CNN's own Rescaling layer."""
    import keras

    from dlcore import models

    model = models.build_cnn(MnistConfig(train_size=100, validation_size=0))
    image = np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)
    rescaled = keras.Model(model.input, model.get_layer("rescale").output)
    expected = np.asarray(rescaled(image[None]))[0, :, :, 0]
    got = views.normalize(image)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.min() >= 0 and got.max() <= 1
    assert views.NORMALIZATION_LATEX.endswith(r"\frac{x}{255}")


@pytest.mark.parametrize(
    "config",
    [
        MnistConfig(),
        MnistConfig(conv1_filters=8, conv2_filters=5, dense_units=17, dropout=0.3),
        MnistConfig(conv1_filters=3, conv2_filters=4, dense_units=6, batch_norm=True),
    ],
)
def test_parameter_table_sums_to_keras_count(config):
    from dlcore import models

    model = models.build_cnn(config)
    rows = views.parameter_table(config)
    assert sum(row.count for row in rows) == model.count_params()
    trainable = sum(row.count for row in rows if row.trainable)
    keras_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == keras_trainable
    for row in rows:
        if row.output_shape and not row.name.endswith("(statistics)"):
            layer_name = row.name
            assert tuple(model.get_layer(layer_name).output.shape[1:]) == row.output_shape


def test_summary_text_is_keras_summary_with_totals():
    from dlcore import models

    config = MnistConfig(conv1_filters=4, conv2_filters=4, dense_units=8)
    model = models.build_cnn(config)
    text = views.summary_text(model)
    assert "conv1 (Conv2D)" in text and "output (Dense)" in text
    assert f"Total params: {model.count_params():,}" in text


def test_training_curves_place_batches_within_epochs():
    history = [{"loss": 0.5, "accuracy": 0.8, "val_loss": 0.4}, {"loss": 0.3, "accuracy": 0.9}]
    logs = [
        {"epoch": 1, "batch": 2, "loss": 0.9, "accuracy": 0.5},
        {"epoch": 2, "batch": 4, "loss": 0.2, "accuracy": 0.95},
    ]
    curves = views.training_curves(history, logs, batches_per_epoch=4)
    np.testing.assert_allclose(curves.batch_x, [0.5, 2.0])
    np.testing.assert_allclose(curves.batch["loss"], [0.9, 0.2])
    np.testing.assert_allclose(curves.epoch_x, [1, 2])
    np.testing.assert_allclose(curves.epoch["val_loss"], [0.4, np.nan])
    empty = views.training_curves([], [], 0)
    assert empty.epoch_x.size == 0 and empty.batch == {}


def test_history_csv_has_one_row_per_epoch_and_marks_the_kept_epoch():
    history = {"loss": [0.5, 0.3, 0.35], "val_accuracy": [0.9, 0.95, 0.94]}
    rows = list(csv.DictReader(io.StringIO(views.history_csv(history, best_epoch=1).decode())))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[2]["loss"]) == 0.35
    assert [r["kept"] for r in rows] == ["", "yes", ""]


def test_model_bytes_round_trip_to_the_same_predictions(tmp_path):
    import keras

    from dlcore import models

    model = models.build_cnn(MnistConfig(conv1_filters=2, conv2_filters=2, dense_units=4))
    # As after training (what the page offers for download): Adam has its moments. Saved
    # unbuilt, it holds only its step count, and Keras warns on loading that it skips it.
    model.optimizer.build(model.trainable_variables)
    data = models.model_bytes(model)
    assert data[:2] == b"PK"  # a .keras file is a zip archive
    path = tmp_path / "m.keras"
    path.write_bytes(data)
    loaded = keras.saving.load_model(path)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), rtol=1e-5)


def test_tile_channels_scales_each_channel_to_its_own_peak():
    maps = np.zeros((4, 4, 3), np.float32)
    maps[0, 0, 0] = 8.0
    maps[1, 1, 1] = 0.5
    grid = views.tile_channels(maps, columns=3, gap=1)
    assert grid.shape == (4, 3 * 5 - 1)
    assert grid[0, 0] == 1.0 and grid[1, 5 + 1] == 1.0  # both peaks show at full brightness
    assert grid[:, 10:].max() == 0.0  # a dead channel stays black
    assert grid[0, 4] == 0.25  # the gap
    with pytest.raises(ValueError, match="H, W, C"):
        views.tile_channels(np.zeros((4, 4)))


def test_tile_filters_keep_signs_and_nan_gaps():
    kernels = np.zeros((3, 3, 1, 2), np.float32)
    kernels[0, 0, 0, 0], kernels[2, 2, 0, 0] = 2.0, -1.0
    kernels[1, 1, 0, 1] = -0.1
    grid = views.tile_filters(kernels, columns=2)
    assert grid.shape == (3, 7)
    assert grid[0, 0] == 1.0 and grid[2, 2] == -0.5
    assert grid[1, 5] == -1.0
    assert np.isnan(grid[:, 3]).all()


def test_canvas_png_round_trips_and_blank_canvas_has_no_ink():
    rgba = np.zeros((50, 60, 4), np.uint8)
    assert not views.canvas_has_ink(rgba)
    assert not views.canvas_has_ink(None)
    rgba[10:20, 10:30] = (0, 0, 0, 255)
    assert views.canvas_has_ink(rgba)
    decoded = np.asarray(Image.open(io.BytesIO(views.canvas_png(rgba))))
    assert decoded.shape == (50, 60, 4)
    assert (decoded == rgba).all()
    with pytest.raises(ValueError, match="RGBA"):
        views.canvas_png(np.zeros((5, 5, 3), np.uint8))


@pytest.mark.parametrize("name", sorted(views.CONTROL_BOUNDS))
def test_control_bounds_are_exactly_the_config_bounds(name):
    low, high = views.CONTROL_BOUNDS[name]
    base = MnistConfig(train_size=100, validation_size=0)
    for value in (low, high):
        base.replace(**{name: value})  # accepted
    step = 1 if isinstance(low, int) else 1e-9
    for value in (low - step, high + step):
        with pytest.raises(ValueError, match=name):
            base.replace(**{name: value})


def test_batch_size_and_learning_rate_choices_are_valid():
    for size in views.BATCH_SIZES:
        MnistConfig(batch_size=size)
    for rate in views.LEARNING_RATES:
        MnistConfig(learning_rate=rate)
    assert MnistConfig().batch_size in views.BATCH_SIZES
    assert MnistConfig().learning_rate in views.LEARNING_RATES
    assert MNIST_QUICK.learning_rate in views.LEARNING_RATES
    assert MNIST_QUICK.batch_size in views.BATCH_SIZES


def test_display_image_enlarges_small_images_with_square_pixels():
    digit = np.zeros((28, 28), np.float32)
    digit[3, 5] = 1.0
    shown = views.display_image(digit)
    assert shown.shape == (112, 112) and shown.dtype == np.uint8
    assert (shown[12:16, 20:24] == 255).all() and shown.sum() == 255 * 16
    photo = np.full((300, 200, 3), 7, np.uint8)
    assert views.display_image(photo).shape == (300, 200, 3)  # big enough already


def test_ink_window_finds_the_window_with_most_ink():
    image = np.zeros((28, 28), np.uint8)
    image[20:24, 3:7] = 200
    image[2, 2] = 255
    assert views.ink_window(image, size=4) == (20, 3)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(10, 12), dtype=np.uint8)
    row, col = views.ink_window(noisy, size=3)
    best = max((int(noisy[r : r + 3, c : c + 3].sum()), r, c) for r in range(8) for c in range(10))
    assert noisy[row : row + 3, col : col + 3].sum() == best[0]
    with pytest.raises(ValueError, match="size"):
        views.ink_window(image, size=29)


def _one_hot_probabilities(predicted, confidence):
    """Softmax-like rows whose argmax is predicted, with the given top probability."""
    rows = np.full((len(predicted), 10), 0.0, np.float32)
    for i, (p, c) in enumerate(zip(predicted, confidence, strict=True)):
        rows[i] = (1 - c) / 9
        rows[i, p] = c
    return rows


def test_evaluate_matches_hand_counted_confusion_and_scores():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 1, 1, 0, 2, 2, 1, 2])
    confidence = np.array([0.9, 0.8, 0.95, 0.7, 0.6, 0.9, 0.9, 0.5, 0.9])
    ev = views.evaluate(labels, _one_hot_probabilities(predicted, confidence))
    assert ev.confusion[:3, :3].tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 3]]
    assert ev.confusion.sum() == len(labels) and ev.confusion[3:].sum() == 0
    # digit 0: TP 2, FP 1 (a 1 read as 0), FN 1 (a 0 read as 1)
    assert ev.precision[0] == pytest.approx(2 / 3) and ev.recall[0] == pytest.approx(2 / 3)
    # digit 1: TP 1, FP 2, FN 1; digit 2: TP 3, FP 0, FN 1
    assert ev.precision[1] == pytest.approx(1 / 3) and ev.recall[1] == pytest.approx(1 / 2)
    assert ev.precision[2] == pytest.approx(1.0) and ev.recall[2] == pytest.approx(3 / 4)
    p, r = 1 / 3, 1 / 2
    assert ev.f1[1] == pytest.approx(2 * p * r / (p + r))
    assert ev.precision[5] == 0 and ev.f1[5] == 0  # never predicted, never present
    assert ev.support[:3].tolist() == [3, 2, 4]
    # most confident mistake first: index 2 (0 read as 1 at 95 %), then 4 (60 %), then 7
    assert ev.wrong.tolist() == [2, 4, 7]
    assert ev.confused_pairs == [(0, 1, 1), (1, 0, 1), (2, 1, 1)]
    assert ev.cell(2, 1).tolist() == [7] and ev.cell(0, 0).tolist() == [0, 1]
    top = ev.top3(2)
    assert top[0] == (1, pytest.approx(0.95)) and len(top) == 3


def test_framed_draws_a_green_or_red_border_around_the_image():
    image = np.full((28, 28), 200, np.uint8)
    ok, bad = views.framed(image, ok=True), views.framed(image, ok=False)
    assert ok.shape == (32, 32, 3)
    assert tuple(ok[0, 0]) == (40, 160, 60) and tuple(bad[-1, 5]) == (220, 40, 40)
    assert (ok[2:-2, 2:-2] == 200).all()
