"""The Forward & backward lesson's network: its state, the step-through, the checks and learning.

Session state (page prefix "bp_"): the chosen preset, the step, the sample shown, and per
preset every parameter, input and target the learner may edit (`bp_<preset>_<name>`), the
learning rate and whether the biases train. Updates write new weights into that state from
button callbacks, before the widgets are drawn, so the edit boxes always show the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from dlcore import backprop
from dlcore.i18n import N_, _
from dlcore.readable import number, scientific
from ui.backprop_graph import current_node, network_dot, step_count
from ui.plain_figure import READABLE_AXIS, PlainFigure

PRESET_TITLES = {
    "mazur": N_("2-2-2 worked example (one sample, sigmoid)"),
    "xor": N_("XOR: 2-2-1 on four points"),
    "houses": N_("Three houses: 1→3→1, ReLU then linear"),
}
PRESET_NOTES = {
    "mazur": N_(
        "The network of Matt Mazur's well-known post *A Step by Step Backpropagation "
        "Example*: every number below can be checked against it (it rounds some intermediate "
        "values; this page does not)."
    ),
    "xor": N_(
        "XOR is 1 when exactly one input is 1. No single line separates those points, so "
        "one neuron cannot do it: the hidden layer bends the inputs until a line can."
    ),
    "houses": N_(
        "Three houses (60, 120 and 200 m²; 200,000, 410,000 and 780,000) scaled to "
        "[0, 1] as the tutorial's §4.2.1 does, through a small cut of its 1→10→1 network."
    ),
}


@dataclass(frozen=True)
class UpdateRecord:
    """One applied (or refused) update w ← w − η·∂E/∂w, kept to show before → after."""

    preset: str
    learning_rate: float
    before: dict
    gradients: dict
    after: dict
    loss_before: float
    loss_after: float
    refused: tuple[str, ...]  # parameters the step would move outside the editable range


def _key(preset: str, name: str) -> str:
    return f"bp_{preset}_{name}"


def ensure_defaults(preset: str) -> None:
    """Put the preset's values into session state the first time the preset is shown."""
    state, base = st.session_state, backprop.preset(preset)
    defaults = {_key(preset, n): v for n, v in base.weights.items()}
    for k, (inputs, targets) in enumerate(zip(base.inputs, base.targets, strict=True)):
        defaults |= {_key(preset, f"s{k}_x{i}"): v for i, v in enumerate(inputs)}
        defaults |= {_key(preset, f"s{k}_t{j}"): v for j, v in enumerate(targets)}
    defaults[_key(preset, "biases")] = not base.frozen
    defaults[_key(preset, "lr")] = base.learning_rate
    for key, value in defaults.items():
        state.setdefault(key, value)
    state.setdefault("bp_step", 0)


def build_network(preset: str) -> backprop.Network:
    """The network as the learner has set it (raises InvalidNetwork for a value out of range)."""
    state = st.session_state
    network = backprop.preset(preset, train_biases=state[_key(preset, "biases")])
    network = network.with_weights(**{n: state[_key(preset, n)] for n in network.weights})
    for k in range(network.sample_count):
        inputs = [state[_key(preset, f"s{k}_x{i}")] for i in range(network.sizes[0])]
        targets = [state[_key(preset, f"s{k}_t{j}")] for j in range(network.sizes[2])]
        network = network.with_sample(k, inputs, targets)
    return replace(network, learning_rate=state[_key(preset, "lr")])


def reset(preset: str) -> None:
    """Forget the learner's edits and updates of `preset`: back to its published values."""
    for key in [k for k in st.session_state if k.startswith(f"bp_{preset}_")]:
        del st.session_state[key]
    st.session_state["bp_step"] = 0
    st.session_state.pop("bp_last_update", None)
    st.session_state.pop("bp_trained", None)


def render_controls(preset: str, switch_slot) -> None:
    """Bias switch (in `switch_slot`) and the edit boxes of every parameter and of the sample
    shown."""
    network = backprop.preset(preset)
    switch_slot.toggle(_("Train the biases too"), key=_key(preset, "biases"))
    with st.expander(_("Edit the weights, inputs and targets")):
        limit = backprop.WEIGHT_LIMIT
        columns = st.columns(5)
        for index, name in enumerate(network.weights):
            columns[index % 5].number_input(
                name, -limit, limit, step=0.05, format="%.6f", key=_key(preset, name)
            )
        st.caption(
            _(
                "Weights and biases from −{limit} to {limit}; inputs and targets too.",
                limit=number(limit),
            )
        )
        sample = st.session_state.get("bp_sample", 0)
        columns = st.columns(network.sizes[0] + network.sizes[2])
        names = [f"s{sample}_x{i}" for i in range(network.sizes[0])]
        names += [f"s{sample}_t{j}" for j in range(network.sizes[2])]
        labels = [_("input i{number}", number=i + 1) for i in range(network.sizes[0])]
        labels += [_("target o{number}", number=j + 1) for j in range(network.sizes[2])]
        for column, name, label in zip(columns, names, labels, strict=True):
            column.number_input(
                label,
                -backprop.VALUE_LIMIT,
                backprop.VALUE_LIMIT,
                step=0.05,
                format="%.4f",
                key=_key(preset, name),
            )
        st.button(_("Back to the preset's values"), key="bp_reset", on_click=reset, args=(preset,))


def _move(delta: int, last: int) -> None:
    st.session_state["bp_step"] = min(max(st.session_state["bp_step"] + delta, 0), last)


def render_steps(network: backprop.Network, trace: backprop.Trace) -> None:
    """The graph as far as the current step, Next/Back, and the step's formulas."""
    sample = trace.samples[st.session_state.get("bp_sample", 0)]
    last = step_count(sample)
    step = min(st.session_state["bp_step"], last)
    st.session_state["bp_step"] = step
    back, forward, jump, where = st.columns([1, 1, 1.4, 3])
    back.button(_("◀ Back"), key="bp_back", on_click=_move, args=(-1, last), disabled=step == 0)
    forward.button(
        _("Next ▶"), key="bp_next", on_click=_move, args=(1, last), disabled=step == last
    )
    jump.button(_("Show every step"), key="bp_end", on_click=_move, args=(last, last))
    direction, node = current_node(sample, step)
    where.markdown(_("**Step {step} of {last}**", step=step, last=last))
    # The step's formulas come first, so they and the graph fit one screen together.
    if direction == "start":
        st.info(
            _(
                "The inputs are set and nothing is computed yet. Press **Next** to compute the "
                "first node: each one is a weighted sum of what feeds it (net), then the "
                "activation (out)."
            )
        )
    elif direction == "forward":
        render_forward_step(sample.forward[step - 1])
    else:
        render_backward_step(sample.backward[step - len(sample.forward) - 1], network)
    st.graphviz_chart(network_dot(network, sample, step), width="stretch")


def render_forward_step(step: backprop.ForwardStep) -> None:
    if step.node == "E":
        st.markdown(
            _(
                "**Forward, last node: the loss.** How far the outputs are from the targets; "
                "the backward pass starts here with ∂E/∂E = 1."
            )
        )
    elif step.node.startswith("net"):
        st.markdown(
            _(
                "**Forward: {node}**, the weighted sum of what feeds the unit, plus its bias.",
                node=step.node,
            )
        )
    else:
        st.markdown(_("**Forward: {node}**, the activation of the weighted sum.", node=step.node))
    st.latex(step.latex)


def render_backward_step(step: backprop.BackwardStep, network: backprop.Network) -> None:
    st.markdown(_("**Backward: how much E changes when {node} moves.**", node=step.node))
    if step.local:
        st.latex(step.local)
    if len(step.terms) > 1 or len(step.terms[0]) > 1:
        st.markdown(_("Chain rule: {formula}", formula="$" + step.chain_latex + "$"))
        st.latex(step.numbers_latex)
    if len(step.terms) > 1:
        st.caption(
            _(
                "{node} reaches the loss along {paths} paths, so its gradient is the sum of one "
                "product per path.",
                node=step.node,
                paths=len(step.terms),
            )
        )
    if network.sample_count > 1 and step.node in network.weights:
        st.caption(
            _(
                "This is this sample's share; the gradient of E adds up the shares of all "
                "{count} samples (the checks below show the sums).",
                count=network.sample_count,
            )
        )


@st.cache_data(show_spinner=False, max_entries=64)
def gradient_checks(network: backprop.Network) -> backprop.GradientChecks:
    # Remembered per network, so stepping never calls TensorFlow again.
    return backprop.gradient_checks(network)


def render_checks(network: backprop.Network) -> None:
    checks = gradient_checks(network)
    rows = [
        {
            _("parameter"): _("{name} (fixed)", name=row.name) if row.frozen else row.name,
            _("chain rule (by hand)"): number(row.chain_rule, 10),
            "tf.GradientTape": number(row.tape, 10),
            _("finite differences"): number(row.finite_difference, 10),
            _("largest difference"): scientific(row.largest_difference, 2),
        }
        for row in checks.rows
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="bp_checks_table")
    st.markdown(
        _(
            "Largest difference anywhere: **{difference}**. TensorFlow's automatic "
            "differentiation (float64) and central finite differences (five-point, step 10⁻⁴) "
            "agree with the chain rule to far more digits than the lesson shows: what is left "
            "is floating-point rounding.",
            difference=scientific(checks.largest_difference, 2),
        )
    )


def apply_update(preset: str) -> None:
    """Button callback: one gradient-descent step on the learner's network."""
    state = st.session_state
    network = build_network(preset)
    rate = state[_key(preset, "lr")]
    after = network.step(rate)
    refused = tuple(
        n
        for n, v in after.weights.items()
        if not (math.isfinite(v) and abs(v) <= backprop.WEIGHT_LIMIT)
    )
    state["bp_last_update"] = UpdateRecord(
        preset,
        rate,
        network.weights,
        network.backward(),
        after.weights,
        network.forward().loss,
        after.forward().loss,
        refused,
    )
    if not refused:
        for name, value in after.weights.items():
            state[_key(preset, name)] = value


def render_update(preset: str) -> None:
    st.columns([1, 2])[0].number_input(
        _("Learning rate η"),
        0.001,
        backprop.MAX_LEARNING_RATE,
        step=0.1,
        format="%.3f",
        key=_key(preset, "lr"),
    )
    st.button(
        _("Apply one update: w ← w − η·∂E/∂w"),
        key="bp_apply",
        on_click=apply_update,
        args=(preset,),
        type="primary",
    )
    record = st.session_state.get("bp_last_update")
    if record is None or record.preset != preset:
        return
    if record.refused:
        worst = max(record.refused, key=lambda n: abs(record.after[n]))
        st.warning(
            _(
                "With η = {rate} this update would move {name} to {value}, beyond the ±{limit} "
                "this lesson allows, and the loss from {before} to {after}. The step "
                "overshoots: lower the learning rate. The weights were left as they were.",
                rate=number(record.learning_rate),
                name=worst,
                value=number(record.after[worst]),
                limit=number(backprop.WEIGHT_LIMIT),
                before=number(record.loss_before, 6),
                after=number(record.loss_after, 6),
            )
        )
        return
    if record.loss_after < record.loss_before:
        went = _(
            "Loss E: **{before} → {after}** (it went down). The graph of tab 2 now shows the "
            "updated network.",
            before=number(record.loss_before, 9),
            after=number(record.loss_after, 9),
        )
    else:
        went = _(
            "Loss E: **{before} → {after}** (it went up). The graph of tab 2 now shows the "
            "updated network.",
            before=number(record.loss_before, 9),
            after=number(record.loss_after, 9),
        )
    st.markdown(went)
    published = backprop.preset("mazur").weights
    if preset == "mazur" and record.before == published and record.after["b1"] == published["b1"]:
        st.caption(
            _(
                "The post quotes 0.291027924 here: it rounds intermediate values to 9 digits "
                "before using them again. Carried in full float64, as here and in TensorFlow, "
                "the loss is 0.291027774. Rounding early changes the 7th digit: a small lesson "
                "in floating point."
            )
        )
    rows = [
        {
            _("parameter"): name,
            _("before"): number(record.before[name], 9),
            "∂E/∂w": number(record.gradients[name], 9),
            _("after"): number(record.after[name], 9),
        }
        for name in record.before
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="bp_update_table")


@st.cache_data(show_spinner=False, max_entries=32)
def train(network: backprop.Network, learning_rate: float, steps: int) -> backprop.TrainingRun:
    return network.train(learning_rate, steps)


def keep_trained(preset: str, run: backprop.TrainingRun) -> None:
    """Button callback: continue from the trained weights (they are within the limits)."""
    for name, value in run.network.weights.items():
        st.session_state[_key(preset, name)] = value
    st.session_state.pop("bp_trained", None)


def render_training(preset: str, network: backprop.Network) -> None:
    steps = st.slider(_("Steps"), 10, backprop.MAX_TRAINING_STEPS, 500, 10, key="bp_train_steps")
    rate = st.session_state[_key(preset, "lr")]
    if st.button(
        _("Train {steps} steps at η = {rate}", steps=steps, rate=number(rate)), key="bp_train"
    ):
        st.session_state["bp_trained"] = True
    if not st.session_state.get("bp_trained"):
        return
    run = train(network, rate, steps)
    figure = {
        "data": [{"type": "scatter", "y": list(run.losses), "mode": "lines", "name": "E"}],
        "layout": {
            "height": 300,
            "margin": {"t": 20, "b": 40},
            "xaxis": {**READABLE_AXIS, "title": {"text": _("step")}},
            "yaxis": {**READABLE_AXIS, "type": "log", "title": {"text": _("loss E (log scale)")}},
        },
    }
    st.plotly_chart(PlainFigure(figure), key="bp_training_chart")
    first, last = number(run.losses[0], 6), number(run.losses[-1], 6)
    if run.outcome == "lowered":
        st.success(
            _(
                "The loss went from {first} to {last} in {steps} steps.",
                first=first,
                last=last,
                steps=steps,
            )
        )
        inside = all(abs(v) <= backprop.WEIGHT_LIMIT for v in run.network.weights.values())
        if inside:
            st.button(
                _("Continue from the trained weights"),
                key="bp_keep",
                on_click=keep_trained,
                args=(preset, run),
            )
        else:
            st.caption(
                _(
                    "Some trained weights lie beyond ±{limit}, the range of the edit boxes, so "
                    "the graph cannot continue from them: train fewer steps to keep them.",
                    limit=number(backprop.WEIGHT_LIMIT),
                )
            )
    elif run.outcome == "rose":
        st.warning(
            _(
                "The loss rose from {first} to {last}: the learning rate is too large. Each "
                "step jumps past the valley of the loss, and the sigmoid units end up "
                "saturated, where their slope is almost 0 and learning stalls. Lower η.",
                first=first,
                last=last,
            )
        )
    else:
        st.error(
            _(
                "Diverged: after {steps} steps the numbers grew past the largest float64 "
                "(about 1.8×10³⁰⁸), so the next step gave ∞ or NaN (not a number) and training "
                "stopped there (last finite loss {last}). Each step overshot the valley and "
                "landed higher on the other side, where the slope is steeper, so the next step "
                "was bigger still. Lower the learning rate.",
                steps=run.stopped_at - 1,
                last=last,
            )
        )
