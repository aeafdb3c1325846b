"""Pixel values to model inputs: the one 0-255 -> 0-1 scaling, bit for bit as Keras does it.

The MNIST CNN takes uint8 images and rescales them inside, with a Keras ``Rescaling`` layer
whose factor is RESCALE. Whatever shows the learner "the normalized input" (the data page,
an uploaded digit's stages) calls ``normalize``, which computes the very same float32
numbers. Imports nothing from dlcore, so that any module can use it without a cycle.

Example:
    >>> normalize(np.array([0, 51, 255], dtype=np.uint8)).tolist()
    [0.0, 0.20000001788139343, 1.0]
    >>> float(np.float32(51) / np.float32(255))  # dividing: one bit off what Keras computes
    0.20000000298023224
"""

from __future__ import annotations

import numpy as np

# The brightest pixel of an 8-bit grayscale image (white ink on MNIST's black).
PIXEL_MAX = 255

# The factor of the CNN's Rescaling layer (models.build_cnn) and of `normalize`.
RESCALE = 1.0 / PIXEL_MAX

# The formula `normalize` computes, as the MNIST page shows it.
NORMALIZATION_LATEX = r"x_{\text{normalized}} = \frac{x}{255}"


def normalize(image: np.ndarray) -> np.ndarray:
    """Pixels 0-255 to 0-1 as float32, equal bit for bit to ``keras.layers.Rescaling(1/255)``.

    Rescaling casts the input and its factor to float32 and multiplies (then adds an offset
    of 0, which changes no value), so this multiplies by float32(1/255). Dividing by 255
    instead is not the same: for 126 of the 256 uint8 values the quotient differs from the
    product in the last bit.

    Args:
        image: Pixel values 0-255 of any shape (uint8 or any numeric dtype).

    Returns:
        A float32 array of the same shape, 0 for black and 1 for white.

    Example:
        >>> normalize(np.array([[0, 255]], dtype=np.uint8)).dtype
        dtype('float32')
    """
    return np.asarray(image, dtype=np.float32) * np.float32(RESCALE)
