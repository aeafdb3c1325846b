"""What a simulated learner does on each page: open it, then change a control again and again.

A scenario has ``open(session, rng)`` (the first visit, not timed as an interaction) and
``step(session, rng)`` (one interaction: the timed unit). Values are drawn at random
within each control's range, so that sessions mostly ask for things not computed yet, as
a class moving sliders independently would.
"""

from __future__ import annotations

import io
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from stclient import ProtocolError, Run, Session

MNIST_TAB = "Read my digit"


@dataclass(frozen=True)
class Scenario:
    """One page's workload: its URL path, how to open it and one timed interaction."""

    name: str
    page: str
    open: Callable[[Session, random.Random], Awaitable[Run]]
    step: Callable[[Session, random.Random], Awaitable[Run]]
    what: str


# ---------------------------------------------------------------------------------------
# Activations: the probe slider of the first panel, sometimes the depth of the second
# ---------------------------------------------------------------------------------------


async def _open_activations(session: Session, rng: random.Random) -> Run:
    return await session.open_page("activations")


async def _step_activations(session: Session, rng: random.Random) -> Run:
    if rng.random() < 0.75:
        return await session.set("act_probe", round(rng.uniform(-6.0, 6.0), 2))
    return await session.set("act_layers", rng.randint(2, 50))


# ---------------------------------------------------------------------------------------
# Optimizers: starting point, Adam's learning rate, number of steps
# ---------------------------------------------------------------------------------------


async def _open_optimizers(session: Session, rng: random.Random) -> Run:
    return await session.open_page("optimizers")


def _start_keys(session: Session) -> tuple[str, str]:
    xs = [key for key in session.widgets if key.startswith("opt_x_")]
    ys = [key for key in session.widgets if key.startswith("opt_y_")]
    if not xs or not ys:
        raise ProtocolError("the Optimizers page shows no start sliders")
    return xs[0], ys[0]


async def _step_optimizers(session: Session, rng: random.Random) -> Run:
    choice = rng.random()
    if choice < 0.5:
        key = _start_keys(session)[rng.randrange(2)]
        slider = session.widget(key).proto
        return await session.set(key, round(rng.uniform(slider.min, slider.max), 2))
    if choice < 0.8:
        options = list(session.widget("opt_adam_learning_rate").proto.options)
        return await session.set("opt_adam_learning_rate", rng.choice(options))
    return await session.set("opt_steps", rng.randrange(10, 1001, 10))


# ---------------------------------------------------------------------------------------
# MNIST: upload a photo of a digit and read the prediction (the model is trained once)
# ---------------------------------------------------------------------------------------

_digits: list[bytes] = []


def digit_photos(count: int = 24) -> list[bytes]:
    """PNG "photos" of MNIST test digits: dark ink on light paper, 224x224, a little noise."""
    if _digits:
        return _digits
    from PIL import Image

    from dlcore.data import load_mnist

    (_, _), (x_test, _) = load_mnist()
    rng = np.random.default_rng(0)
    for image in x_test[:count]:
        paper = 235 - image.astype(np.float64) * 0.8 + rng.normal(0, 4, image.shape)
        big = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).resize((224, 224))
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
        _digits.append(buffer.getvalue())
    return _digits


async def _open_mnist(session: Session, rng: random.Random) -> Run:
    """Open the Read-my-digit tab, upload a digit, and get the quick model if needed."""
    run = await session.open_page("mnist", f"mnist_tab={MNIST_TAB.replace(' ', '+')}")
    run = await _upload(session, rng)
    if "mnist_offer_quick_digit" in session.widgets and not _has_prediction(run):
        await session.click("mnist_offer_quick_digit")  # a cache hit when the model is warm
        await session.follow(limit=600)  # else watch it train (or join the session training it)
        run = await session.set("mnist_tab", MNIST_TAB)
    if not _has_prediction(run):
        raise ProtocolError("no prediction after uploading a digit (is the quick model cached?)")
    return run


async def _upload(session: Session, rng: random.Random) -> Run:
    photo = rng.choice(digit_photos())
    return await session.upload(
        "mnist_upload", f"digit-{rng.randrange(10**6)}.png", photo, "image/png"
    )


def _has_prediction(run: Run) -> bool:
    return any(text and "I read" in text for text in run.texts)


async def _step_mnist(session: Session, rng: random.Random) -> Run:
    run = await _upload(session, rng)
    if run.ok and not _has_prediction(run):
        run.exceptions.append("the rerun after the upload shows no prediction")
    return run


SCENARIOS = {
    "activations": Scenario(
        "activations",
        "activations",
        _open_activations,
        _step_activations,
        "probe slider (75 %) or number of layers (25 %); fragment reruns",
    ),
    "optimizers": Scenario(
        "optimizers",
        "optimizers",
        _open_optimizers,
        _step_optimizers,
        "start x/y (50 %), Adam learning rate (30 %), steps (20 %); full-page reruns",
    ),
    "mnist": Scenario(
        "mnist",
        "mnist",
        _open_mnist,
        _step_mnist,
        "upload a 224x224 PNG digit photo (HTTP PUT) -> rerun -> prediction, warm model",
    ),
}
