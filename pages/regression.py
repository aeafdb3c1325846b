"""Regression: predict a house's price from its area with a 1 → 10 → 1 network, trained live."""

import streamlit as st

from dlcore import data as houses
from dlcore import models, readable, regression
from dlcore import optimizers as opt
from dlcore.configs import (
    MAX_REGRESSION_STEPS,
    REGRESSION_ACTIVATIONS,
    REGRESSION_OPTIMIZERS,
    RegressionConfig,
)
from dlcore.errors import InvalidDataset, TrainingTooLarge
from dlcore.i18n import N_, _
from dlcore.states import JobState, TrainingStatus
from ui import live
from ui.regression_results import (
    add_points,
    column_names,
    compare_runs,
    figure,
    look_inside,
    predict,
    render_training,
)
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

SCALINGS = {
    "minmax": N_("Min-max to [0, 1] (the tutorial's choice)"),
    "standard": N_("Standardize"),
}
SOURCES = {"synthetic": N_("Synthetic houses"), "csv": N_("My CSV file")}
TABS = (
    N_("1 · Data"),
    N_("2 · Scaling"),
    N_("3 · Model"),
    N_("4 · Train"),
    N_("5 · Look inside"),
    N_("6 · Predict"),
)


def read_csv(raw: bytes) -> houses.HouseDataset:
    """Column pickers for an uploaded CSV, then the validated dataset.

    dlcore parses each distinct file once, so both calls (and every rerun) are cheap.
    """
    names = houses.csv_numeric_columns(raw)

    def guess(words: tuple[str, ...], skip: int = -1) -> int:
        found = (i for i, n in enumerate(names) if i != skip and any(w in n.lower() for w in words))
        return next(found, next(i for i in range(len(names)) if i != skip))

    left, right = st.columns(2)
    area_at = guess(("area", "size", "m2", "sqft", "surface"))
    area = left.selectbox(_("Area column"), names, area_at, key="reg_csv_area")
    price_at = guess(("price", "value", "cost", "prix", "preis"), skip=area_at)
    price = right.selectbox(_("Price column"), names, price_at, key="reg_csv_price")
    return houses.load_house_prices_csv(raw, area, price)


def choose_data() -> houses.HouseDataset:
    """Synthetic or uploaded data; a bad upload keeps the previous dataset and says why."""
    source = st.radio(
        _("Data"),
        list(SOURCES),
        format_func=lambda key: _(SOURCES[key]),
        horizontal=True,
        key="reg_source",
    )
    if source == "synthetic":
        c = st.columns(4)
        n = c[0].slider(_("Houses"), 50, 5000, 1000, 50, key="reg_n")
        noise = c[1].slider(
            _("Noise"),
            0.0,
            0.5,
            0.1,
            0.01,
            key="reg_noise",
            help=_("How far prices scatter around the trend (0.1 ≈ 10 %)."),
        )
        bend = c[2].slider(
            _("Non-linearity"),
            0.0,
            3.0,
            0.0,
            0.1,
            key="reg_bend",
            help=_("0: a straight line; more: big homes cost more per m²."),
        )
        seed = c[3].number_input(_("Data seed"), 0, 10_000, 0, key="reg_data_seed")
        st.session_state.reg_data = houses.make_house_prices(n, noise, bend, int(seed))
    elif (
        upload := st.file_uploader(_("CSV with a header row"), ["csv"], key="reg_csv")
    ) is not None:
        try:
            st.session_state.reg_data = read_csv(upload.getvalue())
        except InvalidDataset as exc:
            st.error(_("This file cannot be used: {reason} The previous data is kept.", reason=exc))
        else:
            for note in st.session_state.reg_data.notes:
                st.warning(str(note))
    return st.session_state.setdefault("reg_data", houses.make_house_prices())


def choose_settings(tabs) -> tuple[houses.HouseDataset, RegressionConfig]:
    """The data (tab 1) and every training setting (tabs 1-3)."""
    with tabs[0]:
        data = choose_data()
        c = st.columns(2)
        test_fraction = c[0].slider(
            _("Share kept for testing"), 0.05, 0.5, 0.2, 0.05, key="reg_test"
        )
        seed = c[1].number_input(
            _("Seed (split and starting weights)"), 0, 10_000, 0, key="reg_seed"
        )
    with tabs[1]:
        scaling = st.radio(
            _("Scaling"), list(SCALINGS), format_func=lambda key: _(SCALINGS[key]), key="reg_norm"
        )
    with tabs[2]:
        c = st.columns(3)
        units = c[0].slider(_("Hidden units"), 1, 64, 10, key="reg_units")
        activation = c[1].selectbox(_("Activation"), REGRESSION_ACTIVATIONS, key="reg_act")
        shown = st.session_state.get("reg_opt", REGRESSION_OPTIMIZERS[0])
        keras_call = f"`{opt.constructor_code(shown, 'α')}`"
        optimizer = c[2].selectbox(
            _("Optimizer"),
            REGRESSION_OPTIMIZERS,
            format_func=lambda o: _(opt.get(o).label),
            key="reg_opt",
            help=_("In Keras: {code}", code=keras_call),
        )
        rates = opt.get(optimizer).hyperparameter("learning_rate").stops((1, 3))
        lr = c[0].select_slider(_("Learning rate"), rates, 0.01, key="reg_lr")
        epochs = c[1].number_input(_("Epochs"), 1, 2000, 200, 10, key="reg_epochs")
        batch = c[2].select_slider(
            _("Batch size"), [1, 8, 16, 32, 64, 128, 256, 1024], 32, key="reg_batch"
        )
    config = RegressionConfig(
        units, activation, optimizer, lr, int(epochs), batch, scaling, test_fraction, int(seed)
    )
    return data, config


def show_preparation(tabs, data: houses.HouseDataset, config: RegressionConfig, prep) -> None:
    """The split (tab 1), the scaling with its fitted formulas (tab 2), the Keras code (tab 3)."""
    with tabs[0]:
        st.caption(
            _(
                "{source}. The network trains on {train} houses; {test} are kept aside to "
                "test it on houses it never saw.",
                source=data.source,
                train=readable.grouped(prep.train_idx.size),
                test=readable.grouped(prep.test_idx.size),
            )
        )
        area_name, price_name = column_names(data)
        houses_fig = figure(_("The houses"), area_name, price_name)
        st.plotly_chart(add_points(houses_fig, data, prep))
    with tabs[1]:
        st.write(
            _(
                "Networks learn best from small numbers of similar size. Both columns are "
                "rescaled with numbers fitted on the training houses only; every prediction "
                "is mapped back to real units with the inverse formula."
            )
        )
        st.latex(prep.x_scaler.formula)
        for inverse in (False, True):
            st.latex(
                regression.scaler_latex(prep.x_scaler, _("area"), inverse)
                + r"\qquad "
                + regression.scaler_latex(prep.y_scaler, _("price"), inverse)
            )
        left, right = st.columns(2)
        raw = figure(_("Raw"), area_name, price_name)
        left.plotly_chart(add_points(raw, data, prep))
        scaled = figure(_("Scaled"), _("area'"), _("price'"))
        right.plotly_chart(add_points(scaled, data, prep, scaled=True))
    with tabs[2]:
        st.caption(_("The same model in tf.keras (copy it with the icon at the top right):"))
        st.code(models.keras_code(config), language="python")


def train_tab(data: houses.HouseDataset, config: RegressionConfig, train_rows: int) -> None:
    """The run's size, Train, and the live panel (tab 4)."""
    try:
        config.check_steps(train_rows)
        too_long = False
        st.caption(
            _(
                "{steps} optimizer steps (up to {limit}: everyone's trainings take turns on "
                "the server's shared training slots).",
                steps=readable.grouped(config.steps(train_rows)),
                limit=readable.grouped(MAX_REGRESSION_STEPS),
            )
        )
    except TrainingTooLarge as exc:
        too_long = True
        st.error(_("These settings cannot be trained: {reason}.", reason=exc))
    if st.button(_("▶ Train"), type="primary", key="reg_train", disabled=too_long):
        live.start("reg_job", config, data)  # withdraws this learner's previous run, if any
    job = st.session_state.get("reg_job")
    hint = regression.divergence_advice(job["config"]) if job else ""
    if live.live_panel("reg_job", render_training, diverged_hint=hint) is None and not too_long:
        st.info(_("Press **Train**: the curve will move over the data, epoch by epoch."))


def finished_run():
    """The model to show, the houses it was trained on, and what to say above it.

    The tracked run's model when it finished usable; after a run that diverged or failed,
    the latest good model of this session, named. A finished run, diverged ones included,
    is remembered for "compare runs". The model is None (and the note says why) otherwise.
    """
    handle = live.tracked("reg_job")
    snap = handle.snapshot() if handle is not None else None
    trained = handle.result() if snap is not None and snap.finished else None
    if trained is not None:  # diverged runs too: compare runs shows what a too-high rate does
        runs = st.session_state.get("reg_runs", [])
        st.session_state.reg_runs = regression.remember_run(
            runs, regression.run_summary(handle.key, trained)
        )
        if trained.status != TrainingStatus.DIVERGED:
            st.session_state.reg_good = {
                "result": trained,
                "data": st.session_state.reg_job["data"],
            }
            return trained, st.session_state.reg_good["data"], None
    state = snap.state if snap is not None else "none"
    good = st.session_state.get("reg_good")
    if state in FAILED_RUN and good is not None:
        label = regression.settings_label(good["result"].config)
        return good["result"], good["data"], _(FAILED_RUN[state], label=label)
    waiting = WAITING.get(state, N_("The last run ended (tab 4): nothing to show."))
    return None, None, _(waiting)


# After a run that left no usable model, the page shows the latest good one and says so.
FAILED_RUN = {
    JobState.DIVERGED: N_(
        "The last run diverged (tab 4), so this is your latest good model: {label}."
    ),
    JobState.FAILED: N_("The last run failed (tab 4), so this is your latest good model: {label}."),
    JobState.CANCELLED: N_(
        "The last run was cancelled, so this is your latest good model: {label}."
    ),
}
# Why Look inside and Predict have nothing to show yet.
WAITING = {
    "none": N_("Train a model first (tab 4)."),
    JobState.QUEUED: N_("Waiting for a training slot…"),
    JobState.RUNNING: N_("Training… watch it on tab 4; the results appear here when it ends."),
    JobState.DIVERGED: N_("The last run diverged (tab 4): nothing to show."),
    JobState.FAILED: N_("The last run failed (tab 4): nothing to show."),
    JobState.CANCELLED: N_("The last run was cancelled (tab 4): nothing to show."),
    JobState.STOPPED: N_("The last run stopped (tab 4): nothing to show."),
    JobState.DONE: N_("The last run is done (tab 4): nothing to show."),
}


def show_note(result, note: str | None) -> None:
    """Why there is nothing to show (info), or that an earlier model is shown (warning)."""
    if note is None:
        return
    (st.info if result is None else st.warning)(note)


def main() -> None:
    # A function, not module-level code: a rerun's module globals can outlive it
    # (bench/load/README.md, "Memory"), a function's locals do not.
    regression.warm_up_in_background()  # TensorFlow's first-run costs, paid before Train
    st.title(_("🏠 House prices: your first neural network"))
    st.write(
        _(
            "Predict a house's price from its area with the tutorial's network: 1 input, a "
            "hidden layer of 10 units, 1 output, trained by gradient descent on the mean "
            "squared error."
        )
    )
    tabs = st.tabs([_(name) for name in TABS])
    data, config = choose_settings(tabs)
    try:
        prep = regression.preprocess(data, config)
    except InvalidDataset as exc:  # e.g. one price in the training split: say what to change
        for tab in (tabs[0], tabs[3]):
            tab.error(_("These houses cannot be used for training: {reason}", reason=exc))
    else:
        show_preparation(tabs, data, config, prep)
        with tabs[3]:
            train_tab(data, config, prep.train_idx.size)
    result, trained_on, note = finished_run()
    with tabs[4]:
        show_note(result, note)
        if result is not None:
            look_inside(result, trained_on)
        if st.session_state.get("reg_runs"):
            compare_runs(st.session_state.reg_runs)
    with tabs[5]:
        show_note(result, note)
        if result is not None:
            predict(result, trained_on)
    with st.expander(_("Going deeper")):
        st.markdown(_(GOING_DEEPER))


GOING_DEEPER = N_("""
- **Why scale?** Areas (~100) and prices (~500,000) differ by thousands: one learning rate
  cannot suit both. Scaled, both lie near 0–1 and gradient descent takes even steps.
- **The loss** is the mean squared error on the *scaled* prices. Keras reports the training
  loss averaged over the epoch's batches and the test loss at the epoch's end.
- **Learning rate too high?** Each step overshoots the minimum by more than it corrects, the
  error grows every step and the weights overflow to infinity: the run is stopped and marked
  *diverged*. Divide the learning rate by 10.
- **Extrapolation:** beyond the training range a ReLU network goes on in a straight line (its
  last hinge) while sigmoid or tanh flatten out. Neither knows real prices there.
- **Batch size:** the gradient is averaged over one batch; small batches mean many noisy
  steps per epoch, large ones few smooth steps.
""")

main()
