"""What the MNIST page's tabs share: the data, the session's model, and cached model views.

Session-state keys (all prefixed ``mnist_``): ``mnist_job`` the training this session
follows (ui/live.py), ``mnist_model`` the last finished usable training ({"key",
"config"}), ``mnist_tab`` the tabs widget (the open tab's label, in the language shown, or
a section id set by code), ``mnist_section`` the open tab's language-independent id (also in
the URL: ``?mnist_tab=Train``), ``mnist_digit`` the user's last prepared digit.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from dlcore import cache, i18n, jobs, recipes
from dlcore import data as datasets
from dlcore.configs import MNIST_QUICK, MnistConfig
from dlcore.i18n import _
from dlcore.mnist_views import percent
from dlcore.readable import grouped
from dlcore.states import USABLE_STATUSES, TrainingStatus
from ui import live

JOB = "mnist_job"
MODEL = "mnist_model"
TAB = "mnist_tab"  # the tabs widget's key, and the URL's query parameter
SECTION = "mnist_section"  # the open tab's id (the tab's English name), in any language
_QUERY_SEEN = "mnist_tab_query_seen"  # the last ?mnist_tab= applied, so a click can win
DIGIT = "mnist_digit"  # the user's last prepared digit (28x28 uint8), for "Look inside"


@dataclass(frozen=True)
class Trained:
    """A finished training the page can use: its cache key, result and a model token.

    The token changes whenever the model object does (a stopped run and a later full run
    of the same settings share a key), so caches keyed on (key, token) never mix them up.
    """

    key: str
    result: object

    @property
    def token(self) -> str:
        return f"{self.result.status}-{self.result.epochs_run}-{id(self.result.model)}"

    @property
    def model(self):
        return self.result.model


def _section_of(value: object, sections: list[str]) -> str | None:
    """The section id of a tab's value: an id, or its label in either language."""
    for section in sections:
        if value == section:
            return section
        for language in i18n.LANGUAGES:
            with i18n.using(language):
                if value == _(section):
                    return section
    return None


def open_section(sections: list[str]) -> str:
    """Settle the open tab's id: a new ``?mnist_tab=``, else the tab the learner (or code)
    chose, else the one open before, else the first. The tabs widget is then given that
    tab's label in the learner's language, and the URL its id."""
    asked = st.query_params.get(TAB)
    if asked in sections and asked != st.session_state.get(_QUERY_SEEN):
        section = asked
    else:
        section = (
            _section_of(st.session_state.get(TAB), sections)
            or _section_of(st.session_state.get(SECTION), sections)
            or sections[0]
        )
    st.session_state[SECTION] = section
    st.session_state[TAB] = _(section)
    st.session_state[_QUERY_SEEN] = section
    if asked != section:
        st.query_params[TAB] = section
    return section


@st.cache_resource(show_spinner=False)
def cached_arrays():
    """The verified MNIST arrays, shared by sessions, without a spinner (for use inside
    another cached function, whose caller shows one)."""
    return datasets.load_mnist()


def mnist_arrays():
    """The verified MNIST arrays ((x_train, y_train), (x_test, y_test)), shared by sessions."""
    with st.spinner(_("Loading MNIST…")):  # shown only if loading takes a while
        return cached_arrays()


def remember_finished() -> None:
    """Adopt the followed job's model once it has finished with usable weights."""
    handle = live.tracked(JOB)
    if handle is None or not handle.snapshot().finished:
        return
    result = handle.result()
    # A run stopped before its first epoch ended has no trained weights worth keeping.
    if result is not None and result.status in USABLE_STATUSES and result.epochs_run > 0:
        st.session_state[MODEL] = {"key": handle.key, "config": result.config}


def _adopt_cached_preset() -> dict | None:
    """A default (or quick) model someone already trained on this server, if the cache has one,
    so a learner can read a digit without training first."""
    for config in (MnistConfig(), MNIST_QUICK):
        key = cache.key_for(config, datasets.MNIST_SHA256)
        if cache.model_path(key).exists():
            st.session_state[MODEL] = {"key": key, "config": config}
            return st.session_state[MODEL]
    return None


def current_model() -> Trained | None:
    """The model of this session's last finished training (or an already-cached preset),
    or None when there is none."""
    entry = st.session_state.get(MODEL) or _adopt_cached_preset()
    if entry is None:
        return None
    handle = jobs.get(entry["key"])
    result = handle.result() if handle is not None else None
    if result is None:  # the process forgot the job: the cache still has a completed run
        result = cache.load(entry["key"])
    if result is None:
        del st.session_state[MODEL]
        return None
    return Trained(entry["key"], result)


def start_training(config: MnistConfig, open_train_tab: bool = False) -> None:
    """Submit a training (a cache hit finishes at once) and follow it on the Train tab."""
    live.start(JOB, config)
    if open_train_tab:
        st.session_state[TAB] = "Train"


def accuracy_label(config: MnistConfig, typical: str) -> str:
    """The test accuracy this recipe reached on this server when its model is in the cache
    (verified on load), else the typical figure measured for it (bench/train_mnist.py)."""
    run = recipes.measured_run(config)
    if run is None:
        return typical
    return _("{accuracy} here", accuracy=percent(run.test_accuracy))


def offer_training(where: str) -> None:
    """Say there is no model yet and offer the two one-click trainings."""
    st.info(
        _(
            "There is no trained model in this session yet. Train one on the **Train** tab, "
            "or start one of these with one click (a model trained before comes back at once)."
        )
    )
    left, right = st.columns(2)
    left.button(
        _(
            "Train the default model ({accuracy})",
            accuracy=accuracy_label(MnistConfig(), "≈ 99 %"),
        ),
        key=f"mnist_offer_default_{where}",
        on_click=start_training,
        args=(MnistConfig(), True),
    )
    right.button(
        _(
            "Train the quick model ({accuracy}, seconds)",
            accuracy=accuracy_label(MNIST_QUICK, "≈ 98 %"),
        ),
        key=f"mnist_offer_quick_{where}",
        on_click=start_training,
        args=(MNIST_QUICK, True),
    )


def model_label(trained: Trained) -> str:
    """One line naming the model in use and its test accuracy."""
    result, config = trained.result, trained.result.config
    accuracy = result.metrics.get("test_accuracy", float("nan"))
    params = {
        "conv1": config.conv1_filters,
        "conv2": config.conv2_filters,
        "dense": config.dense_units,
        "epochs": result.epochs_run,
        "images": grouped(config.train_size),
        "accuracy": percent(accuracy, 4),
    }
    if result.status == TrainingStatus.STOPPED:
        return _(
            "Model in use: {conv1}/{conv2} filters, {dense} dense units, {epochs} epoch(s) on "
            "{images} images (stopped early by you) · test accuracy **{accuracy}**",
            **params,
        )
    return _(
        "Model in use: {conv1}/{conv2} filters, {dense} dense units, {epochs} epoch(s) on "
        "{images} images · test accuracy **{accuracy}**",
        **params,
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def predictor(key: str, token: str, _model):
    """A DigitPredictor for the model (traced once, thread-safe), shared by sessions."""
    from dlcore.inference import DigitPredictor

    return DigitPredictor(_model)


def predictor_for(trained: Trained):
    """The cached DigitPredictor of a trained model."""
    return predictor(trained.key, trained.token, trained.model)
