"""MNIST Train tab: the tutorial's recipe beside the playground's, measured on this server.

Every figure comes from the cache (dlcore.recipes.compare_cached): nothing is written here
but the words. Each recipe step a learner asks to train is one job, followed under its own
session-state key (``mnist_recipe_<change>``) so that the steps queue side by side.
"""

from __future__ import annotations

import streamlit as st

from dlcore import mnist_views as views
from dlcore import models, recipes
from dlcore.configs import MNIST_TUTORIAL, MnistConfig
from dlcore.i18n import N_, _
from dlcore.readable import grouped, number
from ui import live

RUN_NAMES = {
    "tutorial": N_("The tutorial's recipe"),
    "batch_size": N_("Between: the tutorial's recipe in batches of 64"),
    "schedule": N_("Between: batches of 64 with the cosine schedule, in float32"),
    "precision": N_("The playground's recipe"),
}
CORRECTION = N_(
    "One correction to the tutorial: its §5.3 says the model is compiled with mean squared "
    "error (MSE), but its code, like the playground, uses sparse categorical cross-entropy, "
    "the right loss for choosing one digit out of ten."
)


def _state_key(change: str) -> str:
    return f"mnist_recipe_{change}"


def _change_lines() -> dict[str, str]:
    """What each change from the tutorial's recipe to the playground's buys, in words."""
    tutorial, ours = MNIST_TUTORIAL, MnistConfig()
    float64_bytes = tutorial.train_size * 28 * 28 * 8
    return {
        "pipeline": _(
            "**Input pipeline.** The tutorial divides the images by 255.0 into NumPy float64 "
            "arrays ({megabytes} MB for the training images) that Keras converts batch by "
            "batch; the playground keeps the 1-byte pixels, streams them through tf.data, "
            "which prepares the next batch while the current one trains, and rescales them "
            "inside the model.",
            megabytes=number(float64_bytes / 1e6),
        ),
        "batch_size": _(
            "**Batch size** {before} → {after}, with the learning rate doubled from "
            "{rate_before} to {rate_after}: half as many optimizer steps per epoch, each one "
            "keeping the processor busier.",
            before=tutorial.batch_size,
            after=ours.batch_size,
            rate_before=number(tutorial.learning_rate),
            rate_after=number(ours.learning_rate),
        ),
        "schedule": _(
            "**Learning-rate schedule.** Cosine decay from {rate} to 0 takes big steps early "
            "and fine steps at the end, so that the playground trains {epochs} epochs instead "
            "of {tutorial_epochs}. It also holds {held_out} images out to watch for "
            "overfitting, so it trains on {train}.",
            rate=number(ours.learning_rate),
            epochs=ours.epochs,
            tutorial_epochs=tutorial.epochs,
            held_out=grouped(ours.validation_size),
            train=grouped(ours.train_size),
        ),
        "precision": _(
            "**Precision.** Where the processor computes 16-bit bfloat16 natively (float16 on "
            "GPUs), the convolutions run in 16-bit and the output stays 32-bit; elsewhere the "
            "playground stays in float32 and this change buys nothing."
        ),
    }


def _share_line(change: str, comparison: recipes.Comparison) -> str:
    if change == "pipeline":
        return _(
            "It is not part of the times measured on this page, where every run uses the "
            "playground's pipeline; `python bench/train_mnist.py --shares` measures it against "
            "the tutorial's script."
        )
    share = comparison.shares.get(change)
    if share is None:
        return _("Its share of the speed-up is not measured on this server yet.")
    return _("Measured here: {share} of the time saved.", share=views.percent(share))


def _measured(comparison: recipes.Comparison) -> None:
    tutorial, ours = comparison.tutorial, comparison.playground
    if tutorial is None or ours is None or comparison.speedup is None:
        st.info(
            _(
                "The comparison needs both recipes trained on this server, and the cache does "
                "not hold both yet. Train both to measure the difference in time and accuracy "
                "here."
            )
        )
        return
    top, bottom = st.columns(3), st.columns(3)
    top[0].metric(
        _("Tutorial's recipe: training time"),
        _("{seconds} s", seconds=number(tutorial.train_seconds)),
    )
    top[1].metric(
        _("Playground's recipe: training time"),
        _("{seconds} s", seconds=number(ours.train_seconds)),
    )
    top[2].metric(_("Speed-up"), f"{number(comparison.speedup)}×")
    bottom[0].metric(
        _("Tutorial's recipe: test accuracy"), views.percent(tutorial.test_accuracy, 4)
    )
    bottom[1].metric(_("Playground's recipe: test accuracy"), views.percent(ours.test_accuracy, 4))
    sign = "+" if comparison.accuracy_gain > 0 else ""  # number() writes its own minus
    gain = f"{sign}{number(100 * comparison.accuracy_gain)}"
    bottom[2].metric(_("Test accuracy difference (percentage points)"), gain)
    st.caption(
        _(
            "Measured on this server: the training time is model.fit's wall time of each "
            "cached run, so it also depends on how busy the server was while each one trained."
        )
    )


def _queue(changes: list[str]) -> None:
    """Submit the recipe steps through the jobs queue, each followed under its own key."""
    configs = {step.change: step.config for step in recipes.RECIPE_STEPS}
    for change in changes:
        live.start(_state_key(change), configs[change])


def _buttons(comparison: recipes.Comparison) -> None:
    steps = [step.change for step in recipes.RECIPE_STEPS]
    if comparison.tutorial is None or comparison.playground is None:
        ends = [steps[0], steps[-1]]
        st.button(
            _("Train both recipes"),
            key="mnist_recipe_train_both",
            on_click=_queue,
            args=(ends,),
            help=_("Queued like any training; a recipe trained before comes back at once."),
        )
    elif any(share is None for share in comparison.shares.values()):
        st.button(
            _("Measure each change"),
            key="mnist_recipe_train_steps",
            on_click=_queue,
            args=(steps[1:-1],),
            help=_("Trains the recipes between the two, one change at a time."),
        )


def _still_queued() -> list[str]:
    """The recipe steps this session queued that have not finished. The finished ones are
    forgotten (the comparison reads them from the cache); a refusal is said once."""
    queued = []
    for step in recipes.RECIPE_STEPS:
        key = _state_key(step.change)
        if (refused := st.session_state.pop(f"{key}_refused", None)) is not None:
            st.warning(str(refused))  # the queue was full: the learner may press the button again
        handle = live.tracked(key)
        if handle is not None and handle.snapshot().finished:
            st.session_state.pop(key, None)
        elif handle is not None:
            queued.append(step.change)
    return queued


def _follow(queued: list[str]) -> None:
    """Progress of each queued step, redrawn live until it finishes."""
    for change in queued:
        st.caption(_(RUN_NAMES[change]))
        live.live_panel(_state_key(change), lambda snap, handle: None)


def render_comparison() -> None:
    """The tutorial's code and recipe against the playground's, with measured differences."""
    with st.expander(_("The tutorial's recipe, side by side")):
        left, right = st.columns(2)
        left.markdown(_("**The tutorial's code (§5.2), as printed**"))
        left.code(recipes.TUTORIAL_CODE, language="python", wrap_lines=True)
        right.markdown(_("**The playground's recipe** (the Default recipe button)"))
        right.code(models.keras_code(MnistConfig()), language="python", wrap_lines=True)
        st.info(_(CORRECTION))
        comparison = recipes.compare_cached()
        _measured(comparison)
        st.markdown(_("**What each change buys**"))
        for change, line in _change_lines().items():
            share = _share_line(change, comparison)
            st.markdown("- " + _("{change} {share}", change=line, share=share))
        queued = _still_queued()
        if queued:
            _follow(queued)
        else:
            _buttons(comparison)
