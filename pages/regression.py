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
from dlcore.states import JobState, TrainingStatus
from ui import live
from ui.regression_results import (
    add_points,
    compare_runs,
    figure,
    look_inside,
    predict,
    render_training,
)
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

SCALINGS = {"minmax": "Min-max to [0, 1] (the tutorial's choice)", "standard": "Standardize"}


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
    area = left.selectbox("Area column", names, area_at, key="reg_csv_area")
    price_at = guess(("price", "value", "cost", "prix", "preis"), skip=area_at)
    price = right.selectbox("Price column", names, price_at, key="reg_csv_price")
    return houses.load_house_prices_csv(raw, area, price)


def choose_data() -> houses.HouseDataset:
    """Synthetic or uploaded data; a bad upload keeps the previous dataset and says why."""
    source = st.radio(
        "Data", ["Synthetic houses", "My CSV file"], horizontal=True, key="reg_source"
    )
    if source == "Synthetic houses":
        c = st.columns(4)
        n = c[0].slider("Houses", 50, 5000, 1000, 50, key="reg_n")
        noise = c[1].slider(
            "Noise",
            0.0,
            0.5,
            0.1,
            0.01,
            key="reg_noise",
            help="How far prices scatter around the trend (0.1 ≈ 10 %).",
        )
        bend = c[2].slider(
            "Non-linearity",
            0.0,
            3.0,
            0.0,
            0.1,
            key="reg_bend",
            help="0: a straight line; more: big homes cost more per m².",
        )
        seed = c[3].number_input("Data seed", 0, 10_000, 0, key="reg_data_seed")
        st.session_state.reg_data = houses.make_house_prices(n, noise, bend, int(seed))
    elif (upload := st.file_uploader("CSV with a header row", ["csv"], key="reg_csv")) is not None:
        try:
            st.session_state.reg_data = read_csv(upload.getvalue())
        except InvalidDataset as exc:
            st.error(f"This file cannot be used: {exc} The previous data is kept.")
        else:
            for note in st.session_state.reg_data.notes:
                st.warning(note)
    return st.session_state.setdefault("reg_data", houses.make_house_prices())


def choose_settings(tabs) -> tuple[houses.HouseDataset, RegressionConfig]:
    """The data (tab 1) and every training setting (tabs 1-3)."""
    with tabs[0]:
        data = choose_data()
        c = st.columns(2)
        test_fraction = c[0].slider("Share kept for testing", 0.05, 0.5, 0.2, 0.05, key="reg_test")
        seed = c[1].number_input("Seed (split and starting weights)", 0, 10_000, 0, key="reg_seed")
    with tabs[1]:
        scaling = st.radio("Scaling", list(SCALINGS), format_func=SCALINGS.get, key="reg_norm")
    with tabs[2]:
        c = st.columns(3)
        units = c[0].slider("Hidden units", 1, 64, 10, key="reg_units")
        activation = c[1].selectbox("Activation", REGRESSION_ACTIVATIONS, key="reg_act")
        shown = st.session_state.get("reg_opt", REGRESSION_OPTIMIZERS[0])
        optimizer = c[2].selectbox(
            "Optimizer",
            REGRESSION_OPTIMIZERS,
            format_func=lambda o: opt.get(o).label,
            key="reg_opt",
            help=f"In Keras: `{opt.constructor_code(shown, 'α')}`",
        )
        rates = opt.get(optimizer).hyperparameter("learning_rate").stops((1, 3))
        lr = c[0].select_slider("Learning rate", rates, 0.01, key="reg_lr")
        epochs = c[1].number_input("Epochs", 1, 2000, 200, 10, key="reg_epochs")
        batch = c[2].select_slider(
            "Batch size", [1, 8, 16, 32, 64, 128, 256, 1024], 32, key="reg_batch"
        )
    config = RegressionConfig(
        units, activation, optimizer, lr, int(epochs), batch, scaling, test_fraction, int(seed)
    )
    return data, config


def show_preparation(tabs, data: houses.HouseDataset, config: RegressionConfig, prep) -> None:
    """The split (tab 1), the scaling with its fitted formulas (tab 2), the Keras code (tab 3)."""
    with tabs[0]:
        st.caption(
            f"{data.source}. The network trains on {readable.grouped(prep.train_idx.size)} "
            f"houses; {readable.grouped(prep.test_idx.size)} are kept aside to test it on "
            "houses it never saw."
        )
        houses_fig = figure("The houses", data.area_name, data.price_name)
        st.plotly_chart(add_points(houses_fig, data, prep))
    with tabs[1]:
        st.write(
            "Networks learn best from small numbers of similar size. Both columns are rescaled "
            "with numbers fitted on the training houses only; every prediction is mapped back "
            "to real units with the inverse formula."
        )
        st.latex(prep.x_scaler.formula)
        for inverse in (False, True):
            st.latex(
                regression.scaler_latex(prep.x_scaler, "area", inverse)
                + r"\qquad "
                + regression.scaler_latex(prep.y_scaler, "price", inverse)
            )
        left, right = st.columns(2)
        left.plotly_chart(add_points(figure("Raw", data.area_name, data.price_name), data, prep))
        scaled = figure("Scaled", "area'", "price'")
        right.plotly_chart(add_points(scaled, data, prep, scaled=True))
    with tabs[2]:
        st.caption("The same model in tf.keras (copy it with the icon at the top right):")
        st.code(models.keras_code(config), language="python")


def train_tab(data: houses.HouseDataset, config: RegressionConfig, train_rows: int) -> None:
    """The run's size, Train, and the live panel (tab 4)."""
    try:
        config.check_steps(train_rows)
        too_long = False
        st.caption(
            f"{readable.grouped(config.steps(train_rows))} optimizer steps (up to "
            f"{readable.grouped(MAX_REGRESSION_STEPS)}: "
            "everyone's trainings take turns on the server's shared training slots)."
        )
    except TrainingTooLarge as exc:
        too_long = True
        st.error(f"These settings cannot be trained: {exc}.")
    if st.button("▶ Train", type="primary", key="reg_train", disabled=too_long):
        live.start("reg_job", config, data)  # withdraws this learner's previous run, if any
    job = st.session_state.get("reg_job")
    hint = regression.divergence_advice(job["config"]) if job else ""
    if live.live_panel("reg_job", render_training, diverged_hint=hint) is None and not too_long:
        st.info("Press **Train**: the curve will move over the data, epoch by epoch.")


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
        return good["result"], good["data"], FAILED_RUN[state].format(label=label)
    waiting = {
        "none": "Train a model first (tab 4).",
        JobState.QUEUED: "Waiting for a training slot…",
        JobState.RUNNING: "Training… watch it on tab 4; the results appear here when it ends.",
    }.get(state, f"The last run {state} (tab 4): nothing to show.")
    return None, None, waiting


# After a run that left no usable model, the page shows the latest good one and says so.
FAILED_RUN = {
    JobState.DIVERGED: "The last run diverged (tab 4), so this is your latest good model: {label}.",
    JobState.FAILED: "The last run failed (tab 4), so this is your latest good model: {label}.",
    JobState.CANCELLED: "The last run was cancelled, so this is your latest good model: {label}.",
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
    st.title("🏠 House prices: your first neural network")
    st.write(
        "Predict a house's price from its area with the tutorial's network: 1 input, a hidden "
        "layer of 10 units, 1 output, trained by gradient descent on the mean squared error."
    )
    tabs = st.tabs(
        ["1 · Data", "2 · Scaling", "3 · Model", "4 · Train", "5 · Look inside", "6 · Predict"]
    )
    data, config = choose_settings(tabs)
    try:
        prep = regression.preprocess(data, config)
    except InvalidDataset as exc:  # e.g. one price in the training split: say what to change
        for tab in (tabs[0], tabs[3]):
            tab.error(f"These houses cannot be used for training: {exc}")
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
    with st.expander("Going deeper"):
        st.markdown(GOING_DEEPER)


GOING_DEEPER = """
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
"""

main()
