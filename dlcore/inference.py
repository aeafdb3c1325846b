"""Read digits with a trained CNN: fast shared prediction, feature maps and filters.

`DigitPredictor` serves predictions through a `tf.function` traced and warmed once when it
is built: one image then costs about a millisecond, where `model.predict` spends ~70 ms of
overhead per call. It is shared by every session, so calls are serialized by a lock
(concurrent calls into one model fail intermittently upstream: tensorflow#61298).

TensorFlow is imported inside the functions, so importing this module stays cheap.

Example:
    >>> predictor = DigitPredictor(model)  # doctest: +SKIP
    >>> predictor.predict_one(prepare_digit(photo_bytes)).label  # doctest: +SKIP
    7
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from dlcore.i18n import Message
from dlcore.metrics import top_k
from dlcore.mnist_views import percent

LOW_CONFIDENCE = 0.6  # below this top probability the reading is flagged as unsure
IMAGE_SHAPE = (28, 28)
BATCH = 512  # images per call when scoring many: bounds the memory of the activations


@dataclass(frozen=True)
class Prediction:
    """The network's reading of one digit.

    Attributes:
        label: The most likely digit.
        probabilities: float32 array (10,), the softmax output.
        top3: The three most likely digits as (digit, probability), most likely first.
        warnings: The preparation's warnings, plus the low-confidence one if it applies.
    """

    label: int
    probabilities: np.ndarray
    top3: tuple[tuple[int, float], ...]
    warnings: tuple[Message, ...]


def low_confidence_warning(probabilities: np.ndarray) -> Message | None:
    """A plain-language warning when the top probability is under LOW_CONFIDENCE, else None."""
    top = float(np.max(probabilities))
    if top >= LOW_CONFIDENCE:
        return None
    shown = percent(top, 2)
    return Message(
        "Not sure — is this a digit? The most likely reading has only {shown} probability.",
        shown=shown,
    )


class DigitPredictor:
    """Thread-safe, traced-once prediction with a trained digit model.

    Args:
        model: A Keras model taking uint8 images of shape (n, 28, 28) or (n, 28, 28, 1)
            (0-255; the model rescales them inside) and returning class probabilities.
    """

    def __init__(self, model) -> None:
        import tensorflow as tf

        input_shape = tuple(model.inputs[0].shape[1:])
        if input_shape not in (IMAGE_SHAPE, (*IMAGE_SHAPE, 1)):
            raise ValueError(f"expected a model for 28x28 images, got input shape {input_shape}")
        self.model = model
        self._input_shape = input_shape
        self._input_dtype = tf.as_dtype(model.inputs[0].dtype)
        self._lock = threading.Lock()
        spec = tf.TensorSpec((None, *input_shape), self._input_dtype)
        self._serve = tf.function(lambda images: model(images, training=False), [spec])
        self.predict(np.zeros((1, *IMAGE_SHAPE), dtype=np.uint8))  # trace and warm now

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities of a batch of uint8 images, shape (n, 28, 28) or (n, 28, 28, 1).

        Returns:
            A float32 array of shape (n, 10).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] not in (IMAGE_SHAPE, (*IMAGE_SHAPE, 1)):
            raise ValueError(
                f"expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}"
            )
        batch = images.reshape((len(images), *self._input_shape))
        chunks = [self._call(batch[i : i + BATCH]) for i in range(0, len(batch), BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 10), dtype=np.float32)

    def _call(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            output = self._serve(batch.astype(self._input_dtype.as_numpy_dtype))
        return np.asarray(output, dtype=np.float32)

    def predict_one(self, prepared) -> Prediction:
        """Read one prepared digit (a `dlcore.images.PreparedDigit`)."""
        probabilities = self.predict(prepared.uint8[None])[0]
        warning = low_confidence_warning(probabilities)
        return Prediction(
            label=int(np.argmax(probabilities)),
            probabilities=probabilities,
            top3=tuple(top_k(probabilities, 3)),
            warnings=tuple(prepared.warnings) + ((warning,) if warning else ()),
        )


def _image_batch(model, image: np.ndarray) -> np.ndarray:
    """One 28x28 uint8 image as a batch of one in the model's input shape."""
    image = np.asarray(image)
    if image.shape not in (IMAGE_SHAPE, (*IMAGE_SHAPE, 1)):
        raise ValueError(f"expected a 28x28 image, got shape {image.shape}")
    return image.reshape((1, *model.inputs[0].shape[1:])).astype(np.uint8)


def feature_maps(model, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """What every convolution and pooling layer outputs for one image.

    Args:
        model: The trained CNN.
        image: A 28x28 uint8 image (0-255, light digit on dark).

    Returns:
        (layer name, float32 array of shape (height, width, channels)) in layer order.
    """
    import keras

    kinds = (keras.layers.Conv2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    chosen = [layer for layer in model.layers if isinstance(layer, kinds)]
    if not chosen:
        return []
    probe = keras.Model(model.inputs[0], [layer.output for layer in chosen])
    outputs = probe(_image_batch(model, image), training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return [
        (layer.name, np.asarray(output, dtype=np.float32)[0])
        for layer, output in zip(chosen, outputs, strict=True)
    ]


def first_layer_filters(model) -> np.ndarray:
    """The first convolution's 3x3 kernels, as an array (3, 3, filters).

    Raises:
        ValueError: The model has no convolution, or its first one does not read a single
            gray channel.
    """
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError("the model has no convolution layer")
    kernel = np.asarray(convs[0].kernel, dtype=np.float32)  # (height, width, in, filters)
    if kernel.shape[2] != 1:
        raise ValueError(f"the first convolution reads {kernel.shape[2]} channels, expected 1")
    return kernel[:, :, 0, :]
