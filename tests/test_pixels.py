"""dlcore.pixels: the one 0-255 -> 0-1 scaling, against Keras' own Rescaling layer."""

import keras
import numpy as np

from dlcore import mnist_views, models, pixels
from dlcore.configs import MnistConfig

LEVELS = np.arange(256, dtype=np.uint8)  # every value a uint8 pixel can take


def _bits(values: np.ndarray) -> np.ndarray:
    assert values.dtype == np.float32
    return values.view(np.uint32)


def test_normalize_equals_keras_rescaling_bit_for_bit_on_every_uint8_value():
    expected = np.asarray(keras.layers.Rescaling(1 / 255)(LEVELS))
    got = pixels.normalize(LEVELS)
    np.testing.assert_array_equal(_bits(got), _bits(expected))
    assert got[0] == 0.0 and got[255] == 1.0


def test_the_cnn_rescales_with_the_same_factor_and_the_same_numbers():
    model = models.build_cnn(MnistConfig(train_size=100, validation_size=0))
    layer = model.get_layer("rescale")
    assert layer.scale == pixels.RESCALE
    images = LEVELS.reshape(1, 16, 16, 1)
    np.testing.assert_array_equal(_bits(np.asarray(layer(images))), _bits(pixels.normalize(images)))


def test_dividing_by_255_differs_from_rescaling_in_the_last_bit_for_126_values():
    """Why normalize multiplies: x / 255 is a different float32 for about half the levels."""
    product, quotient = _bits(pixels.normalize(LEVELS)), _bits(LEVELS.astype(np.float32) / 255)
    gaps = np.abs(product.astype(np.int64) - quotient.astype(np.int64))
    assert np.count_nonzero(gaps) == 126 and gaps.max() == 1


def test_the_mnist_page_reads_the_one_implementation():
    assert mnist_views.normalize is pixels.normalize
    assert mnist_views.NORMALIZATION_LATEX is pixels.NORMALIZATION_LATEX
