"""DigitPredictor, feature maps and filters, on the project's CNN (small widths, untrained)."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

from dlcore import inference
from dlcore.configs import MnistConfig
from dlcore.images import PreparedDigit
from dlcore.models import build_cnn

SMALL = MnistConfig(conv1_filters=4, conv2_filters=6, dense_units=16, train_size=1000, seed=0)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_cnn(SMALL)


@pytest.fixture(scope="module")
def predictor(model):
    return inference.DigitPredictor(model)


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)


def _channel_last_model() -> keras.Model:
    """The same layer names, taking (n, 28, 28, 1) uint8 images."""
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(8, activation="relu", name="dense")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="output")(x))


def _prepared(warnings=()) -> PreparedDigit:
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 13:16] = 255
    return PreparedDigit(image, (), tuple(warnings), True)


def test_predict_matches_the_model_called_directly(model, predictor, digits):
    probabilities = predictor.predict(digits)
    assert probabilities.shape == (12, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, np.asarray(model(digits)), atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(digits[..., None]), probabilities, atol=1e-6)


def test_many_images_are_scored_in_chunks_with_the_same_result(model, predictor):
    many = np.random.default_rng(1).integers(0, 256, (inference.BATCH + 37, 28, 28), np.uint8)
    np.testing.assert_allclose(predictor.predict(many), np.asarray(model(many)), atol=1e-5)
    assert predictor.predict(many[:0]).shape == (0, 10)


def test_traced_once_whatever_the_batch_size(predictor, digits):
    for n in (1, 3, 12):
        predictor.predict(digits[:n])
    assert predictor._serve.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 28, 28), np.float32), np.zeros((2, 32, 32), np.uint8), np.zeros((28, 28))]
)
def test_wrong_input_is_refused(predictor, bad):
    with pytest.raises(ValueError):
        predictor.predict(bad)


def test_concurrent_sessions_get_the_same_answers(predictor, digits):
    expected = predictor.predict(digits)
    results, errors = {}, []

    def session(i: int) -> None:
        try:
            for _ in range(10):
                results[i] = predictor.predict(digits[i : i + 1])[0]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(digits))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    np.testing.assert_allclose(np.stack([results[i] for i in range(len(digits))]), expected, 1e-5)


def test_channel_last_models_are_served_too(digits):
    model = _channel_last_model()
    predictor = inference.DigitPredictor(model)
    np.testing.assert_allclose(
        predictor.predict(digits), np.asarray(model(digits[..., None])), atol=1e-6
    )


def test_predict_one_reads_a_prepared_digit(predictor):
    prediction = predictor.predict_one(_prepared(["The digit touches the edge."]))
    probabilities = prediction.probabilities
    assert prediction.label == int(np.argmax(probabilities))
    assert [label for label, _ in prediction.top3] == list(np.argsort(-probabilities)[:3])
    assert prediction.top3[0][1] == pytest.approx(float(probabilities.max()))
    assert str(prediction.warnings[0]) == "The digit touches the edge."


def test_unsure_readings_carry_the_low_confidence_warning():
    # An untrained network is unsure; one whose output layer always says 7 is not.
    unsure = inference.DigitPredictor(build_cnn(SMALL))
    assert any("is this a digit?" in str(w) for w in unsure.predict_one(_prepared()).warnings)
    sure_model = build_cnn(SMALL)
    output = sure_model.get_layer("output")
    output.set_weights([np.zeros_like(output.kernel), np.eye(10, dtype=np.float32)[7] * 20])
    prediction = inference.DigitPredictor(sure_model).predict_one(_prepared())
    assert prediction.label == 7 and prediction.warnings == ()


def test_low_confidence_threshold():
    assert "only 59 % probability" in str(inference.low_confidence_warning(np.array([0.59, 0.41])))
    # Written by dlcore.readable: two significant digits, never a bare "0%" for a tiny share.
    assert "only 5.9 % probability" in str(inference.low_confidence_warning(np.full(17, 0.059)))
    assert inference.low_confidence_warning(np.array([0.6, 0.4])) is None


def test_stored_model_round_trips(model, predictor, digits, tmp_path):
    path = tmp_path / "cnn.keras"
    model.save(path)
    reloaded = inference.DigitPredictor(
        keras.models.load_model(path, safe_mode=True, compile=False)
    )
    np.testing.assert_allclose(reloaded.predict(digits), predictor.predict(digits), atol=1e-6)


def _correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 3x3 cross-correlation of one channel, written out."""
    out = np.zeros((26, 26))
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * image[dy : dy + 26, dx : dx + 26]
    return out


def test_feature_maps_of_every_conv_and_pooling_layer(model, digits):
    maps = inference.feature_maps(model, digits[0])
    assert [name for name, _ in maps] == ["conv1", "pool1", "conv2", "pool2"]
    assert [m.shape for _, m in maps] == [(26, 26, 4), (13, 13, 4), (11, 11, 6), (5, 5, 6)]
    # conv1 and pool1 recomputed by hand from the weights.
    kernel, bias = (np.asarray(w) for w in model.get_layer("conv1").weights)
    image = digits[0].astype(np.float64) / 255
    conv1 = np.stack(
        [np.maximum(_correlate(image, kernel[:, :, 0, c]) + bias[c], 0) for c in range(4)], -1
    )
    np.testing.assert_allclose(maps[0][1], conv1, atol=1e-5)
    pool1 = conv1.reshape(13, 2, 13, 2, 4).max(axis=(1, 3))
    np.testing.assert_allclose(maps[1][1], pool1, atol=1e-5)


def test_feature_maps_of_a_channel_last_model(digits):
    maps = inference.feature_maps(_channel_last_model(), digits[0][..., None])
    assert [(name, m.shape) for name, m in maps][-1] == ("pool2", (5, 5, 5))


def test_first_layer_filters(model):
    filters = inference.first_layer_filters(model)
    assert filters.shape == (3, 3, 4)
    np.testing.assert_array_equal(filters, np.asarray(model.get_layer("conv1").kernel)[:, :, 0])
