"""Regression: predict a house's price from its area with a 1 → 10 → 1 network, trained live."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dlcore import data as houses
from dlcore import jobs, models, regression
from dlcore.configs import (
    MAX_REGRESSION_STEPS,
    REGRESSION_ACTIVATIONS,
    REGRESSION_OPTIMIZERS,
    RegressionConfig,
)
from dlcore.errors import InvalidDataset, TrainingTooLarge
from pages import _live as live
from pages._runtime import ensure_app_navigation

ensure_app_navigation()

OPTIMIZERS = {
    "sgd": "plain gradient descent (SGD)",
    "momentum": "SGD + momentum 0.9",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adagrad": "Adagrad",
}
LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
SCALINGS = {"minmax": "Min-max to [0, 1] (the tutorial's choice)", "standard": "Standardize"}
LIVE_POINTS = 300  # dots per split drawn in the live chart
COLORS = {"train": "#4c78a8", "test": "#f58518", "network": "#d62728"}


def figure(title: str, x: str, y: str, log_y: bool = False) -> go.Figure:
    """An empty chart with the page's layout (legend under the x-axis title)."""
    fig = go.Figure(layout={"title": title, "height": 380, "xaxis_title": x, "yaxis_title": y})
    fig.update_layout(margin={"t": 40, "b": 10}, legend={"orientation": "h", "y": -0.22})
    return fig.update_yaxes(type="log", dtick=1, exponentformat="power") if log_y else fig


def add_line(fig: go.Figure, x, y, name: str, **line) -> go.Figure:
    return fig.add_scatter(x=x, y=y, name=name, mode="lines", line=line)


def add_points(fig: go.Figure, data, prep, scaled: bool = False, most: int = 0) -> go.Figure:
    """The houses as dots coloured by split, on the raw or scaled axes (at most `most` each)."""
    for split, idx in (("train", prep.train_idx), ("test", prep.test_idx)):
        shown = idx[:: -(-idx.size // most)] if most else idx  # every k-th: same dots each poll
        x, y = data.area[shown], data.price[shown]
        if scaled:
            x, y = prep.x_scaler.transform(x), prep.y_scaler.transform(y)
        marker = {"size": 5, "opacity": 0.55, "color": COLORS[split]}
        fig.add_scatter(x=x, y=y, mode="markers", name=f"{split} ({idx.size})", marker=marker)
    return fig


def read_csv(raw: bytes) -> houses.HouseDataset:
    """Column pickers for an uploaded CSV, then the validated dataset."""
    names = houses.csv_numeric_columns(raw)

    def guess(words: tuple[str, ...], default: int) -> int:
        return next((i for i, n in enumerate(names) if any(w in n.lower() for w in words)), default)

    left, right = st.columns(2)
    area = left.selectbox("Area column", names, guess(("area", "size", "m2", "sqft"), 0))
    price = right.selectbox("Price column", names, guess(("price", "value", "cost"), 1))
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
    return st.session_state.setdefault("reg_data", houses.make_house_prices())


def loss_figure(snap: jobs.JobSnapshot) -> go.Figure:
    """Train/test MSE per epoch; for a diverged run, the loss per batch as it exploded."""
    if snap.state == "diverged":
        fig = figure("Diverged: the loss per batch exploded", "batch", "MSE", log_y=True)
        fig.update_yaxes(dtick=None)  # it spans dozens of powers of ten
        losses = np.array([row.get("loss", np.nan) for row in snap.batch_losses])
        return add_line(fig, None, np.where(np.isfinite(losses), losses, np.nan), "train")
    fig = figure("Loss: MSE on the scaled prices", "epoch", "MSE", log_y=True)
    rows = regression.history_rows(snap.history)
    for name, split in (("loss", "train"), ("val_loss", "test")):
        values = [row.get(name, np.nan) for row in rows]
        add_line(fig, [r["epoch"] for r in rows], values, split, color=COLORS[split])
    return fig.update_traces(mode="lines+markers", marker_size=3)


def render_training(snap: jobs.JobSnapshot, handle: jobs.JobHandle) -> None:
    """The network's curve over the data and the loss curves, from a job snapshot."""
    data, config = st.session_state.reg_job["data"], st.session_state.reg_job["config"]
    title = f"The network's curve after epoch {len(snap.history)}"  # epochs completed
    # While live, fewer dots: the browser redraws this chart twice a second.
    most = 0 if snap.finished else LIVE_POINTS
    prep = regression.preprocess(data, config)
    fit = add_points(figure(title, data.area_name, data.price_name), data, prep, most=most)
    result = handle.result() if snap.state in ("done", "stopped") else None
    curve = snap.extras.get("curve_price", [np.nan])
    if result is not None:
        grid = regression.area_grid(data, 100)
        add_line(
            fit, grid, regression.result_prices(result, grid), "network", color=COLORS["network"]
        )
    elif snap.state != "diverged" and np.isfinite(curve).all():
        add_line(fit, snap.extras["curve_area"], curve, "network", color=COLORS["network"])
    elif snap.state == "diverged":
        fit.add_annotation(
            text="No curve: the weights became infinite",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.95,
            font_color="crimson",
        )
    left, right = st.columns(2)
    left.plotly_chart(fit, key="reg_live_fit")
    right.plotly_chart(loss_figure(snap), key="reg_live_loss")


def look_inside(result, data: houses.HouseDataset) -> None:
    """Hidden-unit contributions, test metrics in real units, and the weights."""
    grid, weights = regression.area_grid(data, 200), regression.network_weights(result.model)
    parts = regression.hidden_contributions(
        weights,
        result.config.activation,
        result.extras["x_scaler"],
        result.extras["y_scaler"],
        grid,
    )
    st.markdown(
        "**Each hidden unit's share of the price.** The prediction is the sum of these "
        "curves plus a constant (the output bias). With ReLU each curve is a *hinge*: "
        "flat on one side, straight on the other; added up they bend the fit."
    )
    fig = figure("Hidden-unit contributions", data.area_name, data.price_name)
    for j, curve in enumerate(parts.units):
        add_line(fig, grid, curve, f"unit {j + 1}", width=1)
    add_line(fig, grid, np.full_like(grid, parts.baseline), "output bias", dash="dot", color="gray")
    add_line(fig, grid, parts.total, "sum = prediction", width=4, color="black")
    st.plotly_chart(fig, key="reg_parts")
    st.markdown("**Scores on the test houses** (never seen in training), in real units")
    m, c = result.metrics, st.columns(4)
    c[0].metric("MSE", f"{m['test_mse']:.4g}", help="Mean squared error, in currency²")
    c[1].metric("RMSE", f"{m['test_rmse']:,.0f}", help="The typical error, in currency")
    c[2].metric("MAE", f"{m['test_mae']:,.0f}", help="The average absolute error, in currency")
    c[3].metric("R²", f"{m['test_r2']:.3f}", help="1: perfect; 0: no better than the mean price")
    with st.expander("How these scores are computed"):
        for formula in regression.METRIC_FORMULAS.values():
            st.latex(formula)
    st.markdown("**Weights and biases** (they act on the scaled numbers)")
    st.dataframe(regression.weights_table(weights), width="stretch")


def compare_runs(runs: list[regression.RunSummary]) -> None:
    fig = figure("Compare runs: test error per epoch", "epoch", "test RMSE (currency)", log_y=True)
    for run in runs:
        errors = np.where(np.isfinite(run.test_rmse), run.test_rmse, np.nan)
        add_line(fig, np.arange(1, errors.size + 1), errors, f"{run.label} ({run.status})")
    # Markers: a run that diverged in its second epoch has a single finite point.
    fig.update_traces(showlegend=True, mode="lines+markers", marker_size=3)
    fig.update_layout(legend_y=-0.3)
    st.plotly_chart(fig, key="reg_compare")
    st.caption(
        "Your last 5 runs. RMSE = scale × √(MSE on the scaled prices): the test loss in "
        "currency, so runs with different scalings compare fairly."
    )


def predict(result, data: houses.HouseDataset) -> None:
    """An area in, a price out, marked on the curve; a warning outside the training range."""
    low, high = regression.training_range(result, data)
    area = st.number_input(
        f"House {data.area_name}",
        1.0,
        float(np.ceil(high * 4)),
        float(np.median(data.area)),
        5.0,
        key="reg_area",
    )
    price, extrapolating = regression.predict_price(result, area, data)
    st.metric("Predicted price", f"{price:,.0f}")
    if extrapolating:
        st.warning(
            f"{area:g} is outside the training range ({low:g} to {high:g}): the network "
            "never saw such a house, so this guess just extends the curve's last bend."
        )
    grid = np.linspace(min(low, area), max(high, area), 200)
    fig = add_points(
        figure("Your house on the curve", data.area_name, data.price_name),
        data,
        regression.preprocess(data, result.config),
    )
    add_line(fig, grid, regression.result_prices(result, grid), "network", color=COLORS["network"])
    fig.add_scatter(
        x=[area],
        y=[price],
        name="your house",
        mode="markers",
        marker={"size": 16, "symbol": "star", "color": "black"},
    )
    st.plotly_chart(fig, key="reg_predict")
    c = st.columns(2)
    c[0].download_button(
        "Download the model (.keras)",
        lambda: models.model_bytes(result.model),
        "house_price_model.keras",
        on_click="ignore",
    )
    c[1].download_button(
        "Download the history (.csv)",
        regression.history_csv(result.history),
        "history.csv",
        "text/csv",
        on_click="ignore",
    )


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
        optimizer = c[2].selectbox(
            "Optimizer",
            REGRESSION_OPTIMIZERS,
            format_func=lambda o: OPTIMIZERS.get(o, o),
            key="reg_opt",
        )
        lr = c[0].select_slider("Learning rate", LEARNING_RATES, 0.01, key="reg_lr")
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
            f"{data.source}. The network trains on {prep.train_idx.size} houses; "
            f"{prep.test_idx.size} are kept aside to test it on houses it never saw."
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
            f"{config.steps(train_rows):,} optimizer steps (up to {MAX_REGRESSION_STEPS:,}: "
            "the server trains one run at a time for everyone)."
        )
    except TrainingTooLarge as exc:
        too_long = True
        st.error(f"These settings cannot be trained: {exc}.")
    if st.button("▶ Train", type="primary", key="reg_train", disabled=too_long):
        previous, handle = live.tracked("reg_job"), jobs.submit(config, data)
        if previous is not None and previous.key != handle.key:
            previous.cancel()  # the learner changed their mind: free the slot for the new run
        live.track("reg_job", handle, config, data)
    job = st.session_state.get("reg_job")
    hint = regression.divergence_advice(job["config"]) if job else ""
    if live.live_panel("reg_job", render_training, diverged_hint=hint) is None and not too_long:
        st.info("Press **Train**: the curve will move over the data, epoch by epoch.")


def finished_run():
    """The tracked job's usable result (None while none) and what to say instead.

    A finished run, diverged ones included, is remembered for "compare runs".
    """
    handle = live.tracked("reg_job")
    snap = handle.snapshot() if handle is not None else None
    trained = handle.result() if snap is not None and snap.finished else None
    if trained is not None:  # diverged runs too: compare runs shows what a too-high rate does
        runs = st.session_state.get("reg_runs", [])
        st.session_state.reg_runs = regression.remember_run(
            runs, regression.run_summary(handle.key, trained)
        )
    state = snap.state if snap is not None else "none"
    waiting = {
        "none": "Train a model first (tab 4).",
        "queued": "Waiting for a training slot…",
        "running": "Training… watch it on tab 4; the results appear here when it ends.",
    }.get(state, f"The last run {state} (tab 4): nothing to show.")
    return (trained if trained is not None and trained.status != "diverged" else None), waiting


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
    prep = regression.preprocess(data, config)
    show_preparation(tabs, data, config, prep)
    with tabs[3]:
        train_tab(data, config, prep.train_idx.size)
    result, waiting = finished_run()
    trained_on = st.session_state["reg_job"]["data"] if result is not None else None
    with tabs[4]:
        if result is not None:
            look_inside(result, trained_on)
        else:
            st.info(waiting)
        if st.session_state.get("reg_runs"):
            compare_runs(st.session_state.reg_runs)
    with tabs[5]:
        if result is not None:
            predict(result, trained_on)
        else:
            st.info(waiting)
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
