"""The tutorial's MNIST recipe beside the playground's, one change at a time.

The tutorial (§5.2) trains 5 epochs in batches of 32 with Adam at a constant 0.001, in
float32, on NumPy arrays of float64 pixels. The playground's default recipe differs in four
ways; ``RECIPE_STEPS`` walks from one to the other, one change per step, so that training
every step's config measures what each change buys. ``compare`` turns the measured times
and accuracies into the differences and shares the MNIST page shows.

Example:
    >>> [step.change for step in RECIPE_STEPS]
    ['tutorial', 'batch_size', 'schedule', 'precision']
    >>> RECIPE_STEPS[-1].config == MnistConfig()
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dlcore import cache
from dlcore import data as datasets
from dlcore.configs import MNIST_TUTORIAL, MnistConfig

# The tutorial's code exactly as printed in §5.2 (its comments are in Chinese, as printed).
# Its one mistake is in the prose of §5.3, which says the model is compiled with mean
# squared error: the code, rightly, uses sparse categorical cross-entropy.
TUTORIAL_CODE = """\
import tensorflow as tf
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# 5.2.1 数据预处理

# 加载数据集
mnist = tf.keras.datasets.mnist
(train_images, train_labels), (test_images, test_labels) = mnist.load_data()

# 归一化图像数据
train_images = train_images / 255.0
test_images = test_images / 255.0

# 展示一幅训练图像
plt.imshow(train_images[0], cmap=plt.cm.binary)
plt.xlabel(f"Label: {train_labels[0]}")
plt.show()

# 5.2.2 建立神经网络模型

# 定义 CNN 模型
model = tf.keras.models.Sequential([
    tf.keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
    tf.keras.layers.MaxPooling2D((2, 2)),
    tf.keras.layers.Conv2D(64, (3, 3), activation='relu'),
    tf.keras.layers.MaxPooling2D((2, 2)),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(128, activation='relu'),
    tf.keras.layers.Dense(10, activation='softmax')
])

# 编译模型
model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

# 5.2.3 训练模型

# 模型训练
model.fit(train_images, train_labels, epochs=5)

# 5.2.4 评估模型

# 模型评估
test_loss, test_acc = model.evaluate(test_images, test_labels)
print(f"Test accuracy: {test_acc}")
"""


@dataclass(frozen=True)
class RecipeStep:
    """One config on the way from the tutorial's recipe to the playground's.

    Attributes:
        change: What this step changes from the previous one ("tutorial" for the start).
        config: The recipe after the change.
    """

    change: str
    config: MnistConfig


# The tutorial's input pipeline (NumPy float64 arrays handed to model.fit) is not a config:
# every step here already feeds uint8 images through tf.data and rescales them in the model.
# bench/train_mnist.py --shares measures that change against the tutorial's script.
_LARGER_BATCHES = MNIST_TUTORIAL.replace(batch_size=64, learning_rate=2e-3)
_COSINE = _LARGER_BATCHES.replace(
    schedule="cosine", epochs=3, train_size=55_000, validation_size=5_000
)
RECIPE_STEPS = (
    RecipeStep("tutorial", MNIST_TUTORIAL),
    # Twice the batch with twice the step size (the usual linear scaling): half the steps.
    RecipeStep("batch_size", _LARGER_BATCHES),
    # Cosine decay reaches 99 % in 3 epochs; 5,000 images are held out to watch it.
    RecipeStep("schedule", _COSINE),
    RecipeStep("precision", MnistConfig()),
)


@dataclass(frozen=True)
class Measured:
    """A finished training's wall time of model.fit and its test accuracy."""

    train_seconds: float
    test_accuracy: float


@dataclass(frozen=True)
class Comparison:
    """The tutorial's recipe against the playground's, as measured on this machine.

    Attributes:
        tutorial: The tutorial recipe's run, or None when it was not trained here.
        playground: The playground recipe's run, or None when it was not trained here.
        speedup: Tutorial time / playground time (None unless both were measured).
        seconds_saved: Tutorial time - playground time (None unless both were measured).
        accuracy_gain: Playground accuracy - tutorial accuracy, as a fraction (or None).
        shares: For each change, the fraction of seconds_saved that its step saved; None
            where the step or the one before it was not measured (or nothing was saved).
    """

    tutorial: Measured | None
    playground: Measured | None
    speedup: float | None
    seconds_saved: float | None
    accuracy_gain: float | None
    shares: dict[str, float | None]


def compare(runs: Mapping[str, Measured | None]) -> Comparison:
    """Differences between the recipes and each change's share of the time saved.

    Args:
        runs: The measured run of each step, by ``RecipeStep.change``; missing or None
            where that step's config was not trained.

    >>> runs = {"tutorial": Measured(100.0, 0.988), "batch_size": Measured(70.0, 0.989),
    ...         "schedule": Measured(45.0, 0.992), "precision": Measured(30.0, 0.993)}
    >>> result = compare(runs)
    >>> round(result.speedup, 2), result.seconds_saved, round(result.accuracy_gain, 3)
    (3.33, 70.0, 0.005)
    >>> {change: round(share, 3) for change, share in result.shares.items()}
    {'batch_size': 0.429, 'schedule': 0.357, 'precision': 0.214}
    """
    changes = [step.change for step in RECIPE_STEPS]
    tutorial, playground = runs.get(changes[0]), runs.get(changes[-1])
    if tutorial is None or playground is None:
        return Comparison(tutorial, playground, None, None, None, dict.fromkeys(changes[1:]))
    saved = tutorial.train_seconds - playground.train_seconds
    shares: dict[str, float | None] = {}
    for before, after in zip(changes, changes[1:], strict=False):
        first, then = runs.get(before), runs.get(after)
        measured = first is not None and then is not None and saved > 0
        shares[after] = (first.train_seconds - then.train_seconds) / saved if measured else None
    return Comparison(
        tutorial=tutorial,
        playground=playground,
        speedup=tutorial.train_seconds / playground.train_seconds
        if playground.train_seconds > 0
        else None,
        seconds_saved=saved,
        accuracy_gain=playground.test_accuracy - tutorial.test_accuracy,
        shares=shares,
    )


def measured_run(config: MnistConfig) -> Measured | None:
    """The cached run of a config on this server (verified on load), or None when the cache
    has none."""
    key = cache.key_for(config, datasets.MNIST_SHA256)
    result = cache.load(key) if cache.model_path(key).exists() else None
    if result is None or "test_accuracy" not in result.metrics:
        return None
    return Measured(result.train_seconds, result.metrics["test_accuracy"])


def compare_cached() -> Comparison:
    """``compare`` over the runs of RECIPE_STEPS that the cache holds."""
    return compare({step.change: measured_run(step.config) for step in RECIPE_STEPS})
