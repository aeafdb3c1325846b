"""The Regression page's results: the live training panel, look inside, compare, predict."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from dlcore import data as houses
from dlcore import jobs, readable, regression
from dlcore.arithmetic import ceil_div
from dlcore.history import epoch_rows
from dlcore.i18n import N_, _
from dlcore.states import JobState
from ui import downloads
from ui.plain_figure import READABLE_AXIS

LIVE_POINTS = 300  # dots per split drawn in the live chart
COLORS = {"train": "#4c78a8", "test": "#f58518", "network": "#d62728", "dead": "#6e6e6e"}
# Strong, distinct colours for curves that must be told apart (the theme's are pale);
# D3's grey is left out (grey marks the dead units) and a dark indigo keeps ten colours.
SERIES = (*(c for c in qualitative.D3 if c.upper() != "#7F7F7F"), "#393B79")
# Prices and errors in currency read best in full (600,000) up to here, not as 6×10⁵.
LARGEST_IN_FULL = 1e9
# The synthetic data's column names (dlcore.data's defaults) are translated where they are
# shown; an uploaded file's own column names are shown as the file writes them.
DEFAULT_COLUMNS = (N_("area (m²)"), N_("price"))
SPLITS = {"train": N_("train"), "test": N_("test")}
# How a run ended, as its legend entry in "compare runs" says it (TrainingStatus values).
STATUSES = {
    "completed": N_("completed"),
    "early_stopped": N_("early_stopped"),
    "stopped": N_("stopped"),
    "diverged": N_("diverged"),
}


def column_names(data: houses.HouseDataset) -> tuple[str, str]:
    """The area and price columns' names as the learner reads them (axis titles)."""
    names = (data.area_name, data.price_name)
    return tuple(_(name) if name in DEFAULT_COLUMNS else name for name in names)


def figure(title: str, x: str, y: str, log_y: bool = False) -> go.Figure:
    """An empty chart with the page's layout (legend under the x-axis title).

    Linear axes (areas, prices, epochs) write numbers in full with thousands separators;
    a log axis writes powers of ten and keeps Plotly's own tick spacing (ticks only at
    powers of ten left a run whose errors stay within one decade with no value on its axis).
    """
    fig = go.Figure(layout={"title": title, "height": 380, "xaxis_title": x, "yaxis_title": y})
    fig.update_layout(margin={"t": 40, "b": 10}, legend={"orientation": "h", "y": -0.22})
    in_full = {**READABLE_AXIS, "exponentformat": "none"}
    fig.update_xaxes(in_full)
    return fig.update_yaxes(READABLE_AXIS, type="log") if log_y else fig.update_yaxes(in_full)


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
        name = _("{split} ({count})", split=_(SPLITS[split]), count=readable.grouped(idx.size))
        fig.add_scatter(x=x, y=y, mode="markers", name=name, marker=marker)
    return fig


def loss_figure(snap: jobs.JobSnapshot) -> go.Figure:
    """Train/test MSE per epoch; for a diverged run, the loss per batch as it exploded."""
    if snap.state == JobState.DIVERGED:
        fig = figure(_("Diverged: the loss per batch exploded"), _("batch"), "MSE", log_y=True)
        losses = np.array([row.get("loss", np.nan) for row in snap.batch_losses])
        return add_line(fig, None, np.where(np.isfinite(losses), losses, np.nan), _("train"))
    fig = figure(_("Loss: MSE on the scaled prices"), _("epoch"), "MSE", log_y=True)
    rows = epoch_rows(snap.history, numbered=True)
    for name, split in (("loss", "train"), ("val_loss", "test")):
        values = [row.get(name, np.nan) for row in rows]
        add_line(fig, [r["epoch"] for r in rows], values, _(SPLITS[split]), color=COLORS[split])
    return fig.update_traces(mode="lines+markers", marker_size=3)


def render_training(snap: jobs.JobSnapshot, handle: jobs.JobHandle) -> None:
    """The network's curve over the data and the loss curves, from a job snapshot."""
    data, config = st.session_state.reg_job["data"], st.session_state.reg_job["config"]
    title = _("The network's curve after epoch {epoch}", epoch=len(snap.history))  # completed
    # While live, fewer dots: the browser redraws this chart twice a second.
    most = 0 if snap.finished else LIVE_POINTS
    prep = regression.preprocess(data, config)
    fit = add_points(figure(title, *column_names(data)), data, prep, most=most)
    result = handle.result() if snap.state in (JobState.DONE, JobState.STOPPED) else None
    curve = snap.extras.get("curve_price", [np.nan])
    if result is not None:
        grid = regression.area_grid(data, 100)
        add_line(
            fit, grid, regression.result_prices(result, grid), _("network"), color=COLORS["network"]
        )
    elif snap.state != JobState.DIVERGED and np.isfinite(curve).all():
        add_line(fit, snap.extras["curve_area"], curve, _("network"), color=COLORS["network"])
    elif snap.state == JobState.DIVERGED:
        fit.add_annotation(
            text=_("No curve: the weights became infinite"),
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
    """Hidden-unit contributions (dead units marked and explained), test metrics, weights."""
    grid, weights = regression.area_grid(data, 200), regression.network_weights(result.model)
    parts = regression.hidden_contributions(
        weights,
        result.config.activation,
        result.extras["x_scaler"],
        result.extras["y_scaler"],
        grid,
    )
    dead = regression.result_dead_units(result, data)
    st.markdown(
        _(
            "**Each hidden unit's share of the price.** The prediction is the sum of these "
            "curves plus a constant (the output bias). With ReLU each curve is a *hinge*: "
            "flat on one side, straight on the other; added up they bend the fit."
        )
    )
    st.plotly_chart(contributions_figure(parts, dead, data), key="reg_parts")
    if dead.size:
        st.info(dead_units_lesson(dead, weights.num_units, result.config.normalization))
    show_test_scores(result.metrics)
    st.markdown(_("**Weights and biases** (they act on the scaled numbers)"))
    table = regression.weights_table(weights)
    st.dataframe(table.map(lambda v: readable.number(v, 4) if np.isfinite(v) else ""))


def contributions_figure(parts, dead, data: houses.HouseDataset) -> go.Figure:
    """One curve per hidden unit (dead ones dashed grey), the output bias and their sum."""
    fig = figure(_("Hidden-unit contributions"), *column_names(data))
    for j, curve in enumerate(parts.units):
        if j in dead:
            name = _("unit {number} (dead)", number=j + 1)
            add_line(fig, parts.area, curve, name, color=COLORS["dead"], dash="dash")
        else:
            name = _("unit {number}", number=j + 1)
            add_line(fig, parts.area, curve, name, width=2, color=SERIES[j % len(SERIES)])
    fig.update_layout(height=430, legend_y=-0.3)  # two legend rows below the axis title
    baseline = np.full_like(parts.area, parts.baseline)
    add_line(fig, parts.area, baseline, _("output bias"), dash="dot", color="gray")
    total = _("sum = prediction")
    return add_line(fig, parts.area, parts.total, total, width=4, color="black")


def dead_units_lesson(dead, num_units: int, normalization: str) -> str:
    """What a dead ReLU is, which units are dead, and why it happened with this scaling."""
    names = ", ".join(str(j + 1) for j in dead)
    what = _(
        "**{dead} of {total} hidden units are dead** (dashed grey: units {names}). "
        "A ReLU unit is dead when its pre-activation w1·area' + b1 is ≤ 0 for every training "
        "house: it outputs 0 for all of them, and ReLU's slope there is 0, so the gradient of "
        "its weights is 0 too. No training step moves them again: it never recovers.",
        dead=dead.size,
        total=num_units,
        names=names,
    )
    if normalization == "minmax":
        why = _(
            "Why here: min-max scaling puts every area' between 0 and 1 and Keras starts "
            "every bias at 0, so each unit that starts with a negative weight w1 is dead before "
            "the first step (about half of them); a large step can push more biases below 0. "
            "**Standardize** (areas on both sides of 0), a smaller learning rate, or an "
            "activation with a slope below 0 (ELU, softplus, swish, GELU) keeps units alive."
        )
    else:
        why = _(
            "Why here: standardized areas lie on both sides of 0, so no unit starts dead; "
            "training steps pushed these units' weights and biases until their kink left the "
            "range of the training areas. A smaller learning rate, another seed, or an "
            "activation with a slope below 0 (ELU, softplus, swish, GELU) keeps units alive."
        )
    return f"{what}\n\n{why}"


def show_test_scores(metrics: dict) -> None:
    """The test metrics in real units, readable, with the formulas that compute them."""
    st.markdown(_("**Scores on the test houses** (never seen in training), in real units"))
    c = st.columns(4)
    c[0].metric(
        _("MSE"), readable.number(metrics["test_mse"]), help=_("Mean squared error, in currency²")
    )
    c[1].metric(
        _("RMSE"), readable.grouped(metrics["test_rmse"]), help=_("The typical error, in currency")
    )
    c[2].metric(
        _("MAE"),
        readable.grouped(metrics["test_mae"]),
        help=_("The average absolute error, in currency"),
    )
    c[3].metric(
        "R²",
        readable.grouped(metrics["test_r2"], 3),
        help=_("1: perfect; 0: no better than the mean price"),
    )
    with st.expander(_("How these scores are computed")):
        for formula in regression.METRIC_FORMULAS.values():
            st.latex(formula)


def compare_runs(runs: list[regression.RunSummary]) -> None:
    """The test error per epoch of the last runs; a diverged run dashed up to where it broke."""
    title = _("Compare runs: test error per epoch")
    fig = figure(title, _("epoch"), _("test RMSE (currency)"), log_y=True)
    for index, run in enumerate(runs):
        add_run(fig, run, SERIES[index % len(SERIES)])
    if max((np.nanmax(t.y, initial=0) for t in fig.data), default=0) < LARGEST_IN_FULL:
        fig.update_yaxes(exponentformat="none")  # 40,000 rather than 0.4×10⁵
    fig.update_traces(showlegend=True)  # a single run keeps its legend entry: its settings
    fig.update_layout(legend_y=-0.3)
    st.plotly_chart(fig, key="reg_compare")
    st.caption(
        _(
            "Your last 5 runs. RMSE = scale × √(MSE on the scaled prices): the test loss in "
            "currency, so runs with different scalings compare fairly."
        )
    )
    for run in runs:
        if run.diverged_at is not None and not np.isfinite(run.test_rmse).any():
            st.caption(
                _(
                    "Not drawn: {label} diverged at epoch {epoch}, before it had a single "
                    "finite test error.",
                    label=run.label,
                    epoch=readable.grouped(run.diverged_at),
                )
            )


def add_run(fig: go.Figure, run: regression.RunSummary, color: str) -> None:
    """One run's test RMSE per epoch; a diverged run dashed, its last finite epoch crossed."""
    errors = np.where(np.isfinite(run.test_rmse), run.test_rmse, np.nan)
    epochs = np.arange(1, errors.size + 1)
    finite = np.flatnonzero(np.isfinite(errors))
    if run.diverged_at is None:
        name = _(
            "{label} ({status})", label=run.label, status=_(STATUSES.get(run.status, run.status))
        )
        # Markers: a run that has a single finite point still shows as a dot.
        fig.add_scatter(
            x=epochs, y=errors, name=name, mode="lines+markers", marker_size=3, line_color=color
        )
    elif finite.size:
        name = _(
            "{label} (diverged at epoch {epoch})",
            label=run.label,
            epoch=readable.grouped(run.diverged_at),
        )
        fig.add_scatter(
            x=epochs[: finite[-1] + 1],
            y=errors[: finite[-1] + 1],
            name=name,
            mode="lines+markers",
            marker={"size": [3] * finite[-1] + [14], "symbol": ["circle"] * finite[-1] + ["x"]},
            line={"color": color, "dash": "dash"},
        )


def predict(result, data: houses.HouseDataset) -> None:
    """An area in, a price out, marked on the curve; a warning outside the training range."""
    low, high = regression.training_range(result, data)
    area = st.number_input(
        _("House {area}", area=column_names(data)[0]),
        1.0,
        float(np.ceil(high * 4)),
        float(np.median(data.area)),
        5.0,
        key="reg_area",
    )
    price, extrapolating = regression.predict_price(result, area, data)
    st.metric(_("Predicted price"), readable.grouped(price))
    if extrapolating:
        st.warning(
            _(
                "{area} is outside the training range ({low} to {high}): the network never "
                "saw such a house, so this guess just extends the curve's last bend.",
                area=readable.number(area),
                low=readable.number(low),
                high=readable.number(high),
            )
        )
    grid = np.linspace(min(low, area), max(high, area), 200)
    fig = add_points(
        figure(_("Your house on the curve"), *column_names(data)),
        data,
        regression.preprocess(data, result.config),
    )
    prices = regression.result_prices(result, grid)
    add_line(fig, grid, prices, _("network"), color=COLORS["network"])
    fig.add_scatter(
        x=[area],
        y=[price],
        name=_("your house"),
        mode="markers",
        marker={"size": 16, "symbol": "star", "color": "black"},
    )
    st.plotly_chart(fig, key="reg_predict")
    downloads.model_and_history(
        result, "house_price_model.keras", regression.history_csv(result.history), "history.csv"
    )
