"""Tests of dlcore.models: the tutorial CNN, its options, the regression MLP, keras_code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlcore import models
from dlcore.configs import MnistConfig, RegressionConfig


def _tutorial_params(c1=32, c2=64, dense=128) -> int:
    """Parameter count of the tutorial CNN, computed by hand from the layer shapes."""
    conv1 = 3 * 3 * 1 * c1 + c1
    conv2 = 3 * 3 * c1 * c2 + c2
    flat = 5 * 5 * c2  # 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5
    return conv1 + conv2 + (flat * dense + dense) + (dense * 10 + 10)


def test_tutorial_cnn_structure_and_parameter_count():
    model = models.build_cnn(MnistConfig())
    assert model.count_params() == _tutorial_params() == 225_034
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n in models.CNN_LAYER_NAMES] == list(models.CNN_LAYER_NAMES)
    assert model.get_layer("conv1").output.shape[1:] == (26, 26, 32)
    assert model.get_layer("pool2").output.shape[1:] == (5, 5, 64)
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert model.input.dtype == "uint8"
    assert model.loss == "sparse_categorical_crossentropy"


def test_cnn_rescales_uint8_input_to_unit_range():
    model = models.build_cnn(MnistConfig())
    probe = keras.Model(model.input, model.get_layer("rescale").output)
    out = np.asarray(probe(np.full((1, 28, 28), 255, dtype=np.uint8)))
    assert out.shape == (1, 28, 28, 1) and np.allclose(out, 1.0)
    probs = np.asarray(model(np.zeros((2, 28, 28), dtype=np.uint8)))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_cnn_options_change_the_model():
    wide = models.build_cnn(MnistConfig(conv1_filters=16, conv2_filters=8, dense_units=32))
    assert wide.count_params() == _tutorial_params(16, 8, 32)
    regular = models.build_cnn(MnistConfig(dropout=0.25, batch_norm=True, augment=True))
    names = {layer.name for layer in regular.layers}
    assert {"bn1", "bn2", "dropout", "augment"} <= names
    # Batch norm adds 4 parameters per channel (gamma, beta, moving mean and variance).
    assert regular.count_params() == _tutorial_params() + 4 * (32 + 64)


def test_augmentation_only_acts_in_training():
    model = models.build_cnn(MnistConfig(augment=True))
    augment = model.get_layer("augment")
    image = np.zeros((1, 28, 28, 1), dtype="float32")
    image[0, 10:18, 12:16] = 1.0
    assert np.array_equal(np.asarray(augment(image, training=False)), image)
    keras.utils.set_random_seed(1)
    assert not np.allclose(np.asarray(augment(image, training=True)), image)


def test_mixed_precision_policy_keeps_the_output_float32():
    model = models.build_cnn(MnistConfig(), policy="mixed_bfloat16")
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("conv1").variable_dtype == "float32"
    assert model.get_layer("output").compute_dtype == "float32"
    assert model(np.zeros((1, 28, 28), np.uint8)).dtype == "float32"
    fp16 = models.build_cnn(MnistConfig(), policy="mixed_float16")
    assert isinstance(fp16.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.config.dtype_policy().name == "float32"  # no global side effect


def test_a_float32_recipe_trains_in_float32_whatever_the_device_would_choose():
    model = models.build_cnn(MnistConfig(precision="float32"), policy="mixed_bfloat16")
    assert {layer.compute_dtype for layer in model.layers[1:]} == {"float32"}
    assert model.get_layer("conv1").compute_dtype == "float32"


@pytest.mark.parametrize(("schedule", "decays"), [("cosine", True), ("constant", False)])
def test_learning_rate_schedule_over_all_training_steps(schedule, decays):
    # 1000 images / batch 100 = 10 steps per epoch, 20 steps in all.
    config = MnistConfig(schedule=schedule, train_size=1000, batch_size=100, epochs=2)
    optimizer = models.build_cnn(config).optimizer
    expected = {0: 1.0, 10: 0.5, 20: 0.0} if decays else {0: 1.0, 10: 1.0, 20: 1.0}
    for step, fraction in expected.items():
        optimizer.iterations.assign(step)
        rate = float(optimizer.learning_rate)
        assert rate == pytest.approx(fraction * config.learning_rate, abs=1e-9)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adamw", "nadam"])
def test_cnn_optimizer_registry(name):
    optimizer = models.build_cnn(MnistConfig(optimizer=name, schedule="constant")).optimizer
    assert optimizer.__class__.__name__.lower() == name


def _settings(optimizer) -> dict:
    """An optimizer's Keras config without its name (Keras numbers names: "sgd", "sgd_1")."""
    config = optimizer.get_config()
    config.pop("name")
    return config


# The optimizers the models compile, spelled out as Keras constructors: each class with
# Keras' own defaults, except regression's "momentum" (SGD with momentum 0.9).
MODEL_OPTIMIZERS = [
    (MnistConfig, "adam", lambda lr: keras.optimizers.Adam(learning_rate=lr)),
    (MnistConfig, "sgd", lambda lr: keras.optimizers.SGD(learning_rate=lr)),
    (MnistConfig, "rmsprop", lambda lr: keras.optimizers.RMSprop(learning_rate=lr)),
    (MnistConfig, "adamw", lambda lr: keras.optimizers.AdamW(learning_rate=lr)),
    (MnistConfig, "nadam", lambda lr: keras.optimizers.Nadam(learning_rate=lr)),
    (RegressionConfig, "sgd", lambda lr: keras.optimizers.SGD(learning_rate=lr)),
    (RegressionConfig, "momentum", lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9)),
    (RegressionConfig, "rmsprop", lambda lr: keras.optimizers.RMSprop(learning_rate=lr)),
    (RegressionConfig, "adam", lambda lr: keras.optimizers.Adam(learning_rate=lr)),
    (RegressionConfig, "adagrad", lambda lr: keras.optimizers.Adagrad(learning_rate=lr)),
]


@pytest.mark.parametrize(("config_type", "name", "expected"), MODEL_OPTIMIZERS)
def test_models_compile_each_optimizer_with_its_keras_settings(config_type, name, expected):
    if config_type is MnistConfig:
        config = MnistConfig(optimizer=name, schedule="constant", learning_rate=0.004)
        built = models.build_cnn(config).optimizer
    else:
        config = RegressionConfig(optimizer=name, learning_rate=0.004)
        built = models.build_regression_mlp(config).optimizer
    assert type(built) is type(expected(0.004))
    assert _settings(built) == _settings(expected(0.004))


@pytest.mark.parametrize(("config_type", "name", "expected"), MODEL_OPTIMIZERS)
def test_keras_code_writes_the_optimizer_the_model_compiles(config_type, name, expected):
    config = config_type(optimizer=name, learning_rate=0.004)
    if config_type is MnistConfig:
        config = config.replace(schedule="constant")
    namespace: dict = {}
    exec(models.keras_code(config), namespace)
    assert _settings(namespace["model"].optimizer) == _settings(expected(0.004))


def test_the_cosine_schedule_reaches_the_optimizer_unchanged():
    config = MnistConfig(optimizer="adamw", train_size=1000, batch_size=100, epochs=2)
    built = models.build_cnn(config).optimizer
    schedule = keras.optimizers.schedules.CosineDecay(0.002, decay_steps=20, alpha=0.0)
    assert _settings(built) == _settings(keras.optimizers.AdamW(learning_rate=schedule))


def test_regression_mlp_tutorial_shape():
    model = models.build_regression_mlp(RegressionConfig())
    assert model.count_params() == 31  # 1x10 + 10 biases + 10x1 + 1 bias
    assert [layer.name for layer in model.layers] == ["hidden", "output"]
    assert model.get_layer("hidden").activation.__name__ == "relu"
    assert model.get_layer("output").activation.__name__ == "linear"
    assert model.loss == "mse"


@pytest.mark.parametrize(
    ("name", "cls", "momentum"),
    [
        ("sgd", "SGD", 0.0),
        ("momentum", "SGD", 0.9),
        ("rmsprop", "RMSprop", None),
        ("adam", "Adam", None),
        ("adagrad", "Adagrad", None),
    ],
)
def test_regression_optimizer_registry(name, cls, momentum):
    config = RegressionConfig(optimizer=name, learning_rate=0.05, activation="tanh")
    optimizer = models.build_regression_mlp(config).optimizer
    assert type(optimizer).__name__ == cls
    assert float(optimizer.learning_rate) == pytest.approx(0.05)
    if momentum is not None:
        assert optimizer.momentum == momentum


@pytest.mark.parametrize(
    "config",
    [
        MnistConfig(),
        MnistConfig(conv1_filters=8, dense_units=64, dropout=0.5, batch_norm=True, augment=True),
        MnistConfig(optimizer="sgd", schedule="constant", learning_rate=0.05),
        RegressionConfig(),
        RegressionConfig(hidden_units=32, activation="tanh", optimizer="momentum"),
    ],
)
def test_keras_code_executes_and_builds_the_same_model(config):
    code = models.keras_code(config)
    namespace: dict = {}
    exec(code, namespace)  # the learner copies exactly this text
    built = (
        models.build_cnn(config)
        if isinstance(config, MnistConfig)
        else models.build_regression_mlp(config)
    )
    copied = namespace["model"]
    assert copied.count_params() == built.count_params()
    assert type(copied.optimizer).__name__ == type(built.optimizer).__name__
    assert f"epochs={config.epochs}" in code


def test_keras_code_rejects_unknown_configs():
    with pytest.raises(ValueError, match="MnistConfig, RegressionConfig"):
        models.keras_code(object())
