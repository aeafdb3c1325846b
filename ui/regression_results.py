"""The Regression page's results: the live training panel, look inside, compare, predict."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dlcore import data as houses
from dlcore import jobs, regression
from dlcore.arithmetic import ceil_div
from dlcore.history import epoch_rows
from dlcore.states import JobState
from ui import downloads

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
        shown = idx[:: ceil_div(idx.size, most)] if most else idx  # every k-th: same dots each poll
        x, y = data.area[shown], data.price[shown]
        if scaled:
            x, y = prep.x_scaler.transform(x), prep.y_scaler.transform(y)
        marker = {"size": 5, "opacity": 0.55, "color": COLORS[split]}
        fig.add_scatter(x=x, y=y, mode="markers", name=f"{split} ({idx.size})", marker=marker)
    return fig


def loss_figure(snap: jobs.JobSnapshot) -> go.Figure:
    """Train/test MSE per epoch; for a diverged run, the loss per batch as it exploded."""
    if snap.state == JobState.DIVERGED:
        fig = figure("Diverged: the loss per batch exploded", "batch", "MSE", log_y=True)
        fig.update_yaxes(dtick=None)  # it spans dozens of powers of ten
        losses = np.array([row.get("loss", np.nan) for row in snap.batch_losses])
        return add_line(fig, None, np.where(np.isfinite(losses), losses, np.nan), "train")
    fig = figure("Loss: MSE on the scaled prices", "epoch", "MSE", log_y=True)
    rows = epoch_rows(snap.history, numbered=True)
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
    result = handle.result() if snap.state in (JobState.DONE, JobState.STOPPED) else None
    curve = snap.extras.get("curve_price", [np.nan])
    if result is not None:
        grid = regression.area_grid(data, 100)
        add_line(
            fit, grid, regression.result_prices(result, grid), "network", color=COLORS["network"]
        )
    elif snap.state != JobState.DIVERGED and np.isfinite(curve).all():
        add_line(fit, snap.extras["curve_area"], curve, "network", color=COLORS["network"])
    elif snap.state == JobState.DIVERGED:
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
    downloads.model_and_history(
        result, "house_price_model.keras", regression.history_csv(result.history), "history.csv"
    )
