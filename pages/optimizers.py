"""Optimizers: the real Keras optimizers race downhill on 2-D loss surfaces."""

import base64

import pandas as pd
import streamlit as st

from dlcore import optimizers as opt
from dlcore import readable
from dlcore.i18n import _
from dlcore.registry import log_stops
from ui.optimizer_charts import adam_figure, adam_table, loss_figure, race_figure
from ui.runtime import ensure_app_navigation

ensure_app_navigation()


# The spinner is shown by the caller, in the learner's language (a decorator's text is fixed
# at import time, for every learner).
@st.cache_data(max_entries=64, show_spinner=False)
def explore(surface: str, condition: float, settings: dict, start: tuple, steps: int, tol: float):
    """The race and what it shows, from one dlcore call (cached per set of controls)."""
    return opt.explore(opt.get_surface(surface, condition), settings, start, steps, tol)


@st.cache_data(max_entries=16, show_spinner=False)
def contour_uri(surface: str, condition: float) -> str:
    """The contour picture behind the paths as a PNG data URI (it depends on the surface only)."""
    png = opt.contour_png(opt.get_surface(surface, condition))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def control(name: str, h: opt.Hyperparameter, where) -> float:
    """The widget for one hyperparameter of one optimizer."""
    key = f"opt_{name}_{h.name}"
    if h.log:
        stops = h.stops((1, 2, 5) if h.name == "learning_rate" else (1,))
        return where.select_slider(
            _(h.label), stops, h.default, key=key, format_func=readable.number
        )
    step = 0.0001 if h.name == "beta_2" else 0.001
    return where.slider(_(h.label), h.low, h.high, h.default, step, key=key, format="%.4g")


def pick_start(surface_key: str) -> None:
    """A click on the map (on its invisible grid of points) moves the start point there."""
    points = st.session_state.opt_chart.selection.points
    surface = opt.get_surface(surface_key)
    for axis, (low, high) in zip("xy", (surface.x_range, surface.y_range), strict=True):
        if points:
            value = round(float(points[0][axis]), 2)
            st.session_state[f"opt_{axis}_{surface_key}"] = min(max(value, low), high)


def end_table(rows: list[opt.EndPoint]) -> pd.DataFrame:
    """The end points in words: numbers to 3 digits (dlcore.readable), and what happened."""

    def text(value, missing: str, write=readable.number) -> str:
        return missing if value is None else write(value)

    def diverged(step: int) -> str:
        return _("diverged at step {step}", step=readable.grouped(step))

    return pd.DataFrame(
        {
            _("optimizer"): _(opt.get(r.optimizer).label),
            _("final loss"): text(r.final_loss, ""),
            _("distance to minimum"): text(r.distance_to_minimum, _("no minimum")),
            _("steps to reach"): text(r.steps_to_tolerance, _("not reached"), readable.grouped),
            _("status"): text(r.diverged_at, _("finished"), diverged),
        }
        for r in rows
    )


def choose_race():
    """The left column's controls: surface, optimizers, steps, start point and tolerance."""
    left = st.container()
    surface_key = left.selectbox(
        _("Surface"),
        opt.surfaces(),
        key="opt_surface",
        format_func=lambda n: _(opt.get_surface(n).label),
    )
    kappa = opt.BOWL_CONDITION
    condition = kappa.default
    if surface_key == "bowl":
        condition = left.select_slider(
            _(kappa.label),
            kappa.stops(),
            kappa.default,
            key="opt_condition",
            format_func=readable.number,
        )
    surface = opt.get_surface(surface_key, condition)
    left.latex(surface.latex)
    left.caption(_(surface.description))
    chosen = left.multiselect(
        _("Optimizers"),
        opt.names(),
        ["sgd", "momentum", "rmsprop", "adam", "nadam"],
        key="opt_chosen",
        format_func=lambda n: _(opt.get(n).label),
    )
    steps = left.slider(_("Steps"), 10, 1000, 200, 10, key="opt_steps")
    start = []
    for axis, (low, high), default in zip(
        "xy", (surface.x_range, surface.y_range), surface.default_start, strict=True
    ):
        # A click on the map writes this key, so the slider takes its value from session state.
        st.session_state.setdefault(key := f"opt_{axis}_{surface_key}", default)
        start.append(left.slider(_("Start {axis}", axis=axis), low, high, step=0.01, key=key))
    tol = left.select_slider(
        _("Counts as “reached” when the loss is within"),
        log_stops(1e-6, 1, (1,)),
        1e-3,
        key="opt_tol",
        format_func=readable.number,
    )
    return surface_key, condition, chosen, steps, tuple(start), tol


def choose_settings(chosen: list[str]) -> dict:
    """One tab per optimizer: its hyperparameters beside the update rule they enter."""
    st.markdown(_("**Each optimizer's settings and update rule** (what Keras computes at step t)"))
    settings = {}
    for name, tab in zip(chosen, st.tabs([_(opt.get(n).label) for n in chosen]), strict=True):
        spec = opt.get(name)
        knobs, rules = tab.columns([1, 2])
        knobs.caption(_(spec.summary))
        settings[name] = {h.name: control(name, h, knobs) for h in spec.hyperparameters}
        for rule in spec.rules:
            rules.caption(_(rule.title))
            for line in rule.latex:
                rules.latex(line)
    return settings


def show_race(found, surface_key: str, condition: float) -> None:
    """The race map with its animation, and a warning per optimizer that blew up."""
    st.caption(
        _(
            "★ minimum · ○ start. ▶ replays the race, the slider scrubs through it. "
            "Click the map to start from there."
        )
    )
    st.plotly_chart(
        race_figure(found, contour_uri(surface_key, condition)),
        key="opt_chart",
        on_select=lambda: pick_start(surface_key),
        selection_mode="points",
        config={"displayModeBar": False},
    )
    for row in found.table:
        if row.diverged_at is None:
            continue
        name, step = _(opt.get(row.optimizer).label), readable.grouped(row.diverged_at)
        if found.surface.has_minimum:
            st.warning(
                _(
                    "{optimizer} diverged at step {step} (learning rate too high?)",
                    optimizer=name,
                    step=step,
                )
            )
        else:
            st.warning(
                _(
                    "{optimizer} diverged at step {step} (the saddle has no bottom)",
                    optimizer=name,
                    step=step,
                )
            )


def show_results(found, tol: float) -> None:
    """Loss per step, and where each optimizer ended."""
    loss_col, table_col = st.columns([2, 3])
    loss_col.plotly_chart(loss_figure(found), key="opt_loss")
    table_col.markdown(
        _(
            "**Where each optimizer ended** (reached = loss within {tolerance} of the minimum)",
            tolerance=readable.number(tol),
        )
    )
    table_col.dataframe(end_table(found.table), hide_index=True)


def show_inside_adam(a: opt.AdamTrace | None) -> None:
    """Adam's running averages and bias corrections, read from Keras' own variables."""
    st.subheader(_("Inside Adam"))
    if a is None:
        st.info(_("Add Adam to the race to look inside it."))
        return
    st.markdown(
        _(
            "Adam keeps two running averages per coordinate: **m** (which way the gradient "
            "points) and **v** (how big it is, squared). Both start at 0, so early on they "
            "are too small; dividing by 1 − βᵗ corrects that. Each coordinate then moves by "
            "α·m̂ / (√v̂ + ε̂): big steps where the gradient is steady, small where it is large "
            "or jumpy. The numbers are read from Keras' own optimizer variables."
        )
    )
    st.plotly_chart(adam_figure(a), key="opt_adam_chart")
    # One coordinate at a time: seven columns of readable numbers fit the page's width,
    # fourteen did not (numbers were cut and columns hidden off the right edge).
    axis = st.radio(
        _("Coordinate shown in the table"), ("x", "y"), key="opt_adam_axis", horizontal=True
    )
    st.table(adam_table(a, axis), height=320)


def main() -> None:
    # A function, not module-level code: a rerun's module globals can outlive it
    # (bench/load/README.md, "Memory"), a function's locals do not.
    st.title(_("🏁 Optimizers"))
    st.markdown(
        _(
            "Training a network means walking **downhill** on its loss surface. An **optimizer** "
            "turns the slope under your feet (the gradient) into a step. Here the real "
            "`keras.optimizers` race on 2-D surfaces, so you can *see* them differ: who "
            "zig-zags, who overshoots, who gets stuck."
        )
    )
    left, right = st.columns([1, 2], gap="large")
    with left:
        surface_key, condition, chosen, steps, start, tol = choose_race()
    if not chosen:
        st.info(_("Pick at least one optimizer to start the race."))
        return
    settings = choose_settings(chosen)
    try:
        with st.spinner(_("Racing the optimizers in TensorFlow…")):
            found = explore(surface_key, condition, settings, start, steps, tol)
    except ValueError as error:
        st.error(_("These settings cannot be raced: {error}", error=str(error)))
        return
    with right:
        show_race(found, surface_key, condition)
    show_results(found, tol)
    show_inside_adam(found.adam)
    with st.expander(_("Going deeper: what Keras really computes")):
        st.markdown("\n".join(f"- {note}" for note in opt.KERAS_NOTES))


main()
