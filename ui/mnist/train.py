"""MNIST page, tab 2: choose the settings, train live, see the code and the summary."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dlcore import i18n, jobs, models
from dlcore import mnist_views as views
from dlcore.configs import (
    MAX_MNIST_STEPS,
    MAX_MNIST_WORK,
    MNIST_OPTIMIZERS,
    MNIST_QUICK,
    MNIST_TUTORIAL,
    PRECISIONS,
    SCHEDULES,
    MnistConfig,
    steps_per_epoch,
)
from dlcore.i18n import N_, _
from dlcore.readable import grouped, number
from dlcore.states import JobState, TrainingStatus, kept_epoch
from ui import downloads, live
from ui.mnist import recipes
from ui.mnist.shared import JOB, accuracy_label, start_training
from ui.plain_figure import READABLE_AXIS

SETTINGS = "mnist_settings"  # the chosen settings, kept while other tabs are open
_SHOWN_IN = "mnist_settings_language"  # the language the controls were last drawn in
SCHEDULE_NAMES = {"cosine": N_("cosine decay to 0"), "constant": N_("constant")}
PRECISION_NAMES = {
    "auto": N_("auto: mixed where faster"),
    "float32": N_("float32 (the tutorial's)"),
}
PRECISION_HELP = N_(
    "Mixed precision computes the convolutions in 16-bit numbers where the processor does so "
    "natively (bfloat16 on recent CPUs, float16 on GPUs; the sidebar shows the choice) and "
    "keeps the output in 32-bit: faster at the same accuracy. float32 computes everything in "
    "32-bit, as the tutorial does."
)
# The job's state on the progress bar, in words.
STATE_NAMES = {
    JobState.QUEUED: N_("queued"),
    JobState.RUNNING: N_("running"),
    JobState.DONE: N_("done"),
    JobState.STOPPED: N_("stopped"),
    JobState.DIVERGED: N_("diverged"),
    JobState.FAILED: N_("failed"),
    JobState.CANCELLED: N_("cancelled"),
}
COLORS = {"train": "#4c78a8", "validation": "#f58518"}
DIVERGED = N_(
    "The loss became infinite or NaN: the steps were too large. Lower the learning rate "
    "(divide it by 10) and train again."
)


def _widget(name: str) -> str:
    return f"mnist_w_{name}"


def _apply(config: MnistConfig) -> None:
    """Set every control to a config (used by the preset buttons, before the rerun)."""
    for name, value in config.to_dict().items():
        st.session_state[_widget(name)] = value
    st.session_state[SETTINGS] = config.to_dict()


def _restore() -> None:
    """Give the controls their remembered values (widgets forget them on other tabs).

    After a change of language the browser still holds the selectboxes' labels in the old
    language, which match no option any more: the remembered values are set again.
    """
    settings = st.session_state.setdefault(SETTINGS, MnistConfig().to_dict())
    language = i18n.current_language()
    relabelled = st.session_state.get(_SHOWN_IN) != language
    st.session_state[_SHOWN_IN] = language
    for name, value in settings.items():
        if relabelled:
            st.session_state[_widget(name)] = value
        else:
            st.session_state.setdefault(_widget(name), value)


def _controls() -> dict:
    """All the settings, each within MnistConfig's bounds."""
    b, w = views.CONTROL_BOUNDS, _widget
    # Labels looked up now, in this reader's language (format_func is also called later,
    # outside the script run, e.g. by AppTest).
    schedules = {name: _(label) for name, label in SCHEDULE_NAMES.items()}
    precisions = {name: _(label) for name, label in PRECISION_NAMES.items()}
    c = st.columns(4)
    values = {
        "epochs": c[0].number_input(_("Epochs"), *b["epochs"], key=w("epochs")),
        "batch_size": c[1].select_slider(_("Batch size"), views.BATCH_SIZES, key=w("batch_size")),
        "learning_rate": c[2].select_slider(
            _("Learning rate"), views.LEARNING_RATES, key=w("learning_rate"), format_func=number
        ),
        "optimizer": c[3].selectbox(_("Optimizer"), MNIST_OPTIMIZERS, key=w("optimizer")),
        "schedule": c[0].selectbox(
            _("Learning-rate schedule"),
            SCHEDULES,
            key=w("schedule"),
            format_func=schedules.get,
        ),
        "conv1_filters": c[1].slider(
            _("Filters in conv 1"), *b["conv1_filters"], key=w("conv1_filters")
        ),
        "conv2_filters": c[2].slider(
            _("Filters in conv 2"), *b["conv2_filters"], key=w("conv2_filters")
        ),
        "dense_units": c[3].slider(_("Dense units"), *b["dense_units"], key=w("dense_units")),
        "dropout": c[0].slider(_("Dropout"), *b["dropout"], step=0.05, key=w("dropout")),
        "train_size": c[1].number_input(
            _("Training images"),
            *b["train_size"],
            step=1000,
            key=w("train_size"),
            help=_("Fewer images train faster; 1,000 images and 1 epoch take a few seconds."),
        ),
        "validation_size": c[2].number_input(
            _("Validation images"),
            *b["validation_size"],
            step=500,
            key=w("validation_size"),
            help=_("Held out of training to pick the best epoch and watch for overfitting."),
        ),
        "seed": c[3].number_input(_("Seed"), *b["seed"], key=w("seed")),
        "batch_norm": c[0].toggle(_("Batch normalization"), key=w("batch_norm")),
        "augment": c[1].toggle(
            _("Data augmentation"), key=w("augment"), help=_("Small random rotations and shifts.")
        ),
        "precision": c[2].selectbox(
            _("Precision"),
            PRECISIONS,
            key=w("precision"),
            format_func=precisions.get,
            help=_(PRECISION_HELP),
        ),
    }
    return values


def _recipe(config: MnistConfig) -> str:
    return _(
        "The tutorial's network; batch {batch}, {optimizer} {rate} ({schedule}), {epochs} "
        "epochs on {images} images, {precision}.",
        batch=config.batch_size,
        optimizer=config.optimizer,
        rate=number(config.learning_rate),
        schedule=_(SCHEDULE_NAMES[config.schedule]),
        epochs=config.epochs,
        images=grouped(config.train_size),
        precision=_(PRECISION_NAMES[config.precision]),
    )


def _presets() -> None:
    left, middle, right, _spare = st.columns([1, 1, 1, 1])
    left.button(
        _("Default recipe ({accuracy})", accuracy=accuracy_label(MnistConfig(), "≥ 99 %")),
        key="mnist_preset_default",
        on_click=_apply,
        args=(MnistConfig(),),
        help=_recipe(MnistConfig()),
    )
    middle.button(
        _("⚡ Quick preset ({accuracy})", accuracy=accuracy_label(MNIST_QUICK, "≈ 98 %")),
        key="mnist_preset_quick",
        on_click=_apply,
        args=(MNIST_QUICK,),
        help=_recipe(MNIST_QUICK),
    )
    right.button(
        _("Tutorial's recipe ({accuracy})", accuracy=accuracy_label(MNIST_TUTORIAL, "≈ 99 %")),
        key="mnist_preset_tutorial",
        on_click=_apply,
        args=(MNIST_TUTORIAL,),
        help=_(
            "{recipe} Exactly §5.2 of the tutorial; compare it below.",
            recipe=_recipe(MNIST_TUTORIAL),
        ),
    )


def _curve_figure(title: str, metric: str, curves: views.Curves, epochs: int) -> go.Figure:
    """The per-batch running value and the end-of-epoch points over the whole run's length."""
    fig = go.Figure()
    if metric in curves.batch:
        fig.add_scatter(
            x=curves.batch_x,
            y=curves.batch[metric],
            name=_("train (running, per batch)"),
            line={"color": COLORS["train"], "width": 1},
            opacity=0.6,
        )
    splits = (
        ("", "train", _("train (end of epoch)")),
        ("val_", "validation", _("validation (end of epoch)")),
    )
    for prefix, split, name in splits:
        if prefix + metric in curves.epoch:
            fig.add_scatter(
                x=curves.epoch_x,
                y=curves.epoch[prefix + metric],
                mode="lines+markers",
                name=name,
                line={"color": COLORS[split]},
            )
    fig.update_layout(
        title=title,
        # The whole run from the first batch: the x axis does not grow as batches arrive.
        # (3 % more on the right so the last epoch's markers are not cut in half).
        xaxis={**READABLE_AXIS, "title": {"text": _("epoch")}, "range": [0, 1.03 * epochs]},
        yaxis=READABLE_AXIS,
        height=380,
        # Below the axis title (ticks and title take ~50 px under the plot), with room for
        # two rows of entries: 0.3 of the 220 px plot is 66 px down, the margin holds them.
        legend={"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top"},
        margin={"t": 40, "b": 120, "l": 10, "r": 10},
    )
    return fig


def _kept_help(status: TrainingStatus, kept: int | None) -> str:
    """Which epoch's weights the model holds, and why (the same fact the model came from)."""
    if kept is None:
        return _("No epoch finished.")
    if status in (TrainingStatus.STOPPED, TrainingStatus.EARLY_STOPPED):
        return _(
            "Weights kept: epoch {epoch}, the best on the validation images before the stop.",
            epoch=kept + 1,
        )
    return _("Weights kept: epoch {epoch}, the last one (training ran to the end).", epoch=kept + 1)


def _final(result) -> None:
    """Scores and downloads of a finished training."""
    m = result.metrics
    kept = kept_epoch(result.status, result.extras.get("best_epoch"), result.epochs_run)
    c = st.columns(4)
    c[0].metric(_("Test accuracy"), views.percent(m["test_accuracy"], 4))
    c[1].metric(_("Test loss"), number(m["test_loss"]))
    c[2].metric(_("Epochs run"), result.epochs_run, help=_kept_help(result.status, kept))
    c[3].metric(_("Training time"), _("{seconds} s", seconds=number(result.train_seconds)))
    if result.cached:
        st.caption(_("Trained on {device}. Loaded from the cache.", device=_trained_on(result)))
    else:
        st.caption(_("Trained on {device}.", device=_trained_on(result)))
    downloads.model_and_history(
        result, "mnist_cnn.keras", views.history_csv(result.history, kept), "mnist_history.csv"
    )


def _trained_on(result) -> str:
    """The device, and the precision this run really used (a float32 recipe overrides the
    device's choice that its summary names)."""
    if result.config.precision == "float32":
        return f"{result.device.rsplit(' · ', 1)[0]} · float32"
    return result.device


def _render_live(snap: jobs.JobSnapshot, handle: jobs.JobHandle) -> None:
    curves = views.training_curves(snap.history, snap.batch_losses, snap.batches_per_epoch)
    epochs = snap.epochs or 1
    left, right = st.columns(2)
    left.plotly_chart(
        _curve_figure(_("Loss (lower is better)"), "loss", curves, epochs), key="mnist_live_loss"
    )
    right.plotly_chart(
        _curve_figure(_("Accuracy"), "accuracy", curves, epochs), key="mnist_live_acc"
    )
    result = handle.result() if snap.finished else None
    if result is not None and result.status != TrainingStatus.DIVERGED:
        st.progress(
            snap.fraction,
            text=_(
                "Epoch {epoch} / {epochs} · {state}",
                epoch=snap.epoch,
                epochs=snap.epochs,
                state=_(STATE_NAMES[snap.state]) if snap.state in STATE_NAMES else snap.state,
            ),
        )
        _final(result)
    elif not snap.finished:
        from dlcore import device

        st.caption(_("Training on {device}.", device=device.configure().summary))


@st.cache_data(show_spinner=False, max_entries=32)
def _summary(config_json: str, config: MnistConfig) -> str:
    return views.summary_text(models.build_cnn(config))


def _code_and_summary(config: MnistConfig) -> None:
    # One above the other at full width: side by side, each half was too narrow for the
    # code's lines and the summary's "Param #" column (they were cut off on the right).
    st.markdown(_("**The same model in tf.keras** (copy it with the icon at the top right)"))
    st.code(models.keras_code(config), language="python", wrap_lines=True)
    st.markdown(_("**`model.summary()`**: each layer's output shape and weights"))
    with st.spinner(_("Building the model…")):
        summary = _summary(config.to_json(), config)
    st.code(summary, language="text")
    st.markdown(_("**Where the parameter counts come from**"))
    rows = views.parameter_table(config)
    st.dataframe(
        [
            {
                _("layer"): r.name,
                _("output"): "×".join(map(str, r.output_shape)),
                _("count"): str(r.formula),
                _("parameters"): grouped(r.count),
            }
            for r in rows
        ],
        width="stretch",
        hide_index=True,
    )


def _train_button(config: MnistConfig | None) -> None:
    if st.button(_("▶ Train"), type="primary", key="mnist_train", disabled=config is None):
        start_training(config)
    shown = live.live_panel(JOB, _render_live, diverged_hint=_(DIVERGED))
    if shown is None and config is not None:
        st.info(
            _(
                "Press **Train**. A model trained before with the same settings comes back at "
                "once; otherwise you watch it learn, batch by batch."
            )
        )


def render() -> None:
    """Draw the Train tab."""
    st.write(
        _(
            "The tutorial's convolutional network: two rounds of *convolution* (small 3×3 "
            "filters that slide over the image looking for strokes) and *pooling* (keep the "
            "strongest response in each 2×2 patch), then a dense layer and 10 outputs, one "
            "probability per digit. Training shows it the images again and again and nudges "
            "its weights to make the loss smaller."
        )
    )
    _restore()
    _presets()
    values = _controls()
    try:
        config = MnistConfig(**values)
        st.session_state[SETTINGS] = config.to_dict()
        st.caption(
            _(
                "This run: {steps} optimizer steps, {work}× the default recipe's arithmetic "
                "(a run may use up to {max_work}× and {max_steps} steps: everyone's trainings "
                "take turns on the server's shared training slots).",
                steps=grouped(config.steps),
                work=number(config.work, 2),
                max_work=number(MAX_MNIST_WORK),
                max_steps=grouped(MAX_MNIST_STEPS),
            )
        )
    except ValueError as exc:
        config = None
        st.error(_("These settings cannot be trained: {reason}.", reason=str(exc)))
    _train_button(config)
    if config is not None:
        _code_and_summary(config)
    recipes.render_comparison()
    with st.expander(_("Going deeper")):
        default = MnistConfig()
        steps = steps_per_epoch(default.train_size, default.batch_size)
        st.markdown(
            _(
                GOING_DEEPER,
                train=grouped(default.train_size),
                batch=default.batch_size,
                steps=steps,
            )
        )


GOING_DEEPER = N_("""
- **The loss is sparse categorical cross-entropy**: minus the log of the probability the
  network gives to the right digit, averaged over the batch. (The tutorial's §5.3 says the
  model is compiled with mean squared error; its own code, and ours, use
  `loss='sparse_categorical_crossentropy'`, the right loss for choosing one class out of ten.)
- **Accuracy** is the share of images whose most probable digit is the label.
- **Validation images** are carved from the 60,000 training images and never trained on.
  After each epoch the model is scored on them; the test set is only used at the very end.
- **Stop** ends training after the current batch and keeps the weights of the best epoch so
  far (highest validation accuracy): you never lose a good model by stopping late.
- **Cosine decay** lowers the learning rate smoothly to 0 by the last step: big steps early,
  fine steps at the end. Without a decay this network hovers around 98.9 %; with it, the
  default recipe passes 99 % within 3 epochs.
- **Mixed precision**: on processors that support it, the convolutions run in 16-bit
  (bfloat16 on recent Intel CPUs, float16 on GPUs) and the output stays 32-bit — about 1.5×
  faster here at the same accuracy. The caption under the live charts says which was used.
- **Batch size** is how many images are averaged into one weight update; **an epoch** is one
  pass over all training images. {train} images in batches of {batch} make {steps} updates
  per epoch.
- **Dropout** switches off a random share of the dense units at each step, **batch
  normalization** rescales each convolution's outputs, and **augmentation** shows slightly
  rotated and shifted digits: three ways to fight overfitting, each slower per epoch.
""")
