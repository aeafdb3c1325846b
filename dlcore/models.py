"""Model builders from frozen configs: the tutorial's MNIST CNN and the 1 → hidden → 1 MLP.

Each builder returns a compiled Keras model; ``keras_code(config)`` returns the same
model as copyable tf.keras code, so the page can show what the learner would type.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import keras
from keras import layers

from dlcore import optimizers, pixels
from dlcore.configs import MnistConfig, RegressionConfig, steps_per_epoch
from dlcore.i18n import Message

# Keras saving touches global state and the models are shared by sessions: one save at a time.
_save_lock = threading.Lock()

CNN_LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "flatten", "dense", "output")


def _learning_rate(config: MnistConfig, total_steps: int):
    """Constant rate, or cosine decay from config.learning_rate to 0 over all steps."""
    schedules = {
        "constant": lambda: config.learning_rate,
        "cosine": lambda: keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=total_steps, alpha=0.0
        ),
    }
    return schedules[config.schedule]()


def _augmentation() -> keras.Sequential:
    """Small random rotations and shifts; Keras applies them only while training."""
    return keras.Sequential(
        [
            layers.RandomRotation(0.03, fill_mode="constant", name="rotate"),  # about ±11°
            layers.RandomTranslation(0.08, 0.08, fill_mode="constant", name="shift"),
        ],
        name="augment",
    )


def _feature_layers(config: MnistConfig, dtype) -> list[layers.Layer]:
    """Conv → (BN) → pool twice, then flatten, dense and (dropout)."""
    stack: list[layers.Layer] = []
    for i, filters in ((1, config.conv1_filters), (2, config.conv2_filters)):
        stack.append(layers.Conv2D(filters, 3, activation="relu", name=f"conv{i}", dtype=dtype))
        if config.batch_norm:
            stack.append(layers.BatchNormalization(name=f"bn{i}", dtype=dtype))
        stack.append(layers.MaxPooling2D(2, name=f"pool{i}", dtype=dtype))
    stack.append(layers.Flatten(name="flatten", dtype=dtype))
    stack.append(layers.Dense(config.dense_units, activation="relu", name="dense", dtype=dtype))
    if config.dropout > 0:
        stack.append(layers.Dropout(config.dropout, name="dropout", dtype=dtype))
    return stack


def build_cnn(
    config: MnistConfig, policy: str | None = None, num_train_examples: int | None = None
) -> keras.Model:
    """Build and compile the tutorial's CNN for 28x28 uint8 digit images.

    Architecture: Rescaling(1/255) → [augment] → conv1 (3x3, relu) → pool1 (2x2) → conv2
    (3x3, relu) → pool2 → flatten → dense (relu) → [dropout] → output (10, softmax); batch
    normalization after each convolution when ``config.batch_norm``. Images stay uint8
    until the model, which rescales them (4x less memory than float32 arrays).

    Args:
        config: Widths, regularization, optimizer and schedule.
        policy: Keras dtype policy for the hidden layers (e.g. "mixed_bfloat16"); None
            means float32. The output layer is always float32 for a stable softmax/loss.
            A config with ``precision="float32"`` ignores it: that recipe asks for full
            precision whatever the device would choose.
        num_train_examples: Training-set size for the cosine schedule's length; defaults
            to ``config.train_size``.

    Returns:
        A compiled model (sparse categorical cross-entropy, accuracy).
    """
    if config.precision == "float32":
        policy = None
    dtype = keras.DTypePolicy(policy) if policy else None
    inputs = keras.Input(shape=(28, 28), dtype="uint8", name="image")
    x = layers.Reshape((28, 28, 1), name="add_channel")(inputs)
    x = layers.Rescaling(pixels.RESCALE, name="rescale")(x)
    if config.augment:
        x = _augmentation()(x)
    for layer in _feature_layers(config, dtype):
        x = layer(x)
    outputs = layers.Dense(10, activation="softmax", name="output", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="mnist_cnn")
    steps = steps_per_epoch(num_train_examples or config.train_size, config.batch_size)
    optimizer = optimizers.build(config.optimizer, _learning_rate(config, steps * config.epochs))
    if policy == "mixed_float16":
        # float16 gradients underflow without loss scaling; Keras only adds it by itself
        # under a global mixed_float16 policy, which we deliberately do not set.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def build_regression_mlp(config: RegressionConfig) -> keras.Model:
    """Build and compile the 1 → hidden → 1 network of the house-price demo (float32).

    The hidden layer uses ``config.activation``; the output is linear, the loss is the
    mean squared error on the normalized scale, and the optimizer is the config's entry of
    the Optimizers page's registry ("sgd" is plain gradient descent, "momentum" is SGD with
    momentum 0.9), built by ``optimizers.build``.
    """
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), name="area"),
            layers.Dense(config.hidden_units, activation=config.activation, name="hidden"),
            layers.Dense(1, name="output"),
        ],
        name="house_price_mlp",
    )
    optimizer = optimizers.build(config.optimizer, config.learning_rate)
    model.compile(optimizer=optimizer, loss="mse")
    return model


# ---------------------------------------------------------------------------------------
# Copyable code
# ---------------------------------------------------------------------------------------


def _cnn_layer_code(config: MnistConfig) -> list[str]:
    """One line of tf.keras code per layer of build_cnn, in the same order."""
    body = [
        "tf.keras.Input(shape=(28, 28), dtype='uint8'),",
        "tf.keras.layers.Reshape((28, 28, 1)),",
        "tf.keras.layers.Rescaling(1 / 255),  # pixels 0..255 -> 0..1",
    ]
    if config.augment:
        body += [
            "tf.keras.layers.RandomRotation(0.03, fill_mode='constant'),  # training only",
            "tf.keras.layers.RandomTranslation(0.08, 0.08, fill_mode='constant'),",
        ]
    for filters in (config.conv1_filters, config.conv2_filters):
        body.append(f"tf.keras.layers.Conv2D({filters}, (3, 3), activation='relu'),")
        if config.batch_norm:
            body.append("tf.keras.layers.BatchNormalization(),")
        body.append("tf.keras.layers.MaxPooling2D((2, 2)),")
    body += [
        "tf.keras.layers.Flatten(),",
        f"tf.keras.layers.Dense({config.dense_units}, activation='relu'),",
    ]
    if config.dropout > 0:
        body.append(f"tf.keras.layers.Dropout({config.dropout:g}),")
    body.append("tf.keras.layers.Dense(10, activation='softmax'),")
    return body


def _cnn_code(config: MnistConfig) -> str:
    steps = steps_per_epoch(config.train_size, config.batch_size) * config.epochs
    lr = repr(config.learning_rate)
    if config.schedule == "cosine":
        schedule = f"tf.keras.optimizers.schedules.CosineDecay({lr}, decay_steps={steps})"
        lr_lines = [
            f"# Cosine decay to 0 over {config.epochs} epochs x {steps // config.epochs} steps",
            f"learning_rate = {schedule}",
        ]
    else:
        lr_lines = [f"learning_rate = {lr}"]
    optimizer = optimizers.constructor_code(config.optimizer, "learning_rate")
    return "\n".join(
        ["import tensorflow as tf", "", "model = tf.keras.Sequential(["]
        + [f"    {line}" for line in _cnn_layer_code(config)]
        + ["])", "", *lr_lines]
        + [
            "model.compile(",
            f"    optimizer=tf.keras.optimizers.{optimizer},",
            "    loss='sparse_categorical_crossentropy',",
            "    metrics=['accuracy'],",
            ")",
            f"# model.fit(x_train, y_train, epochs={config.epochs}, batch_size="
            f"{config.batch_size}, validation_data=(x_val, y_val))",
        ]
    )


def _mlp_code(config: RegressionConfig) -> str:
    optimizer = optimizers.constructor_code(config.optimizer, repr(config.learning_rate))
    return "\n".join(
        [
            "import tensorflow as tf",
            "",
            "model = tf.keras.Sequential([",
            "    tf.keras.Input(shape=(1,)),  # area, scaled",
            f"    tf.keras.layers.Dense({config.hidden_units}, activation='{config.activation}'),",
            "    tf.keras.layers.Dense(1),  # price, scaled",
            "])",
            f"model.compile(optimizer=tf.keras.optimizers.{optimizer}, loss='mse')",
            f"# model.fit(x_train, y_train, epochs={config.epochs}, "
            f"batch_size={config.batch_size}, validation_data=(x_test, y_test))",
        ]
    )


_CODE_WRITERS = {MnistConfig: _cnn_code, RegressionConfig: _mlp_code}


def keras_code(config: MnistConfig | RegressionConfig) -> str:
    """Copyable tf.keras code that builds and compiles the same model as the config.

    The code defines ``model``; executing it builds a model with the same layers and
    parameter count as ``build_cnn``/``build_regression_mlp`` (in float32).
    """
    writer = _CODE_WRITERS.get(type(config))
    if writer is None:
        valid = ", ".join(cls.__name__ for cls in _CODE_WRITERS)
        raise ValueError(
            Message(
                "No code writer for {kind}; valid: {valid}",
                kind=type(config).__name__,
                valid=valid,
            )
        )
    return writer(config)


def model_bytes(model: keras.Model) -> bytes:
    """The model as the bytes of a ``.keras`` file (Keras' own format), for a download."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        with _save_lock:
            model.save(path)
        return path.read_bytes()
