"""Forward & backward: watch a network compute, then learn, number by number (tutorial §2.5).

A neuron fitted by hand, then a small network as a graph whose every node shows its value and
gradient, stepped node by node forward and back with the chain rule written out, checked
against TensorFlow, updated once and trained. The one-neuron view is a fragment.
"""

import streamlit as st

from dlcore import backprop
from dlcore.errors import DlcoreError
from dlcore.i18n import _
from dlcore.readable import number
from ui.backprop_network import (
    PRESET_NOTES,
    PRESET_TITLES,
    build_network,
    ensure_defaults,
    render_checks,
    render_controls,
    render_steps,
    render_training,
    render_update,
)
from ui.backprop_neuron import render_neuron
from ui.backprop_tutorial import render_tutorial
from ui.runtime import ensure_app_navigation

ensure_app_navigation()


@st.fragment
def neuron_view() -> None:
    render_neuron()


def reset_step() -> None:
    st.session_state["bp_step"] = 0


st.title(_("🔄 Forward & backward"))
st.markdown(
    _(
        "Training repeats two passes (tutorial §2.5). **Forward**: the inputs flow through the "
        "weights and activations to a prediction and a loss. **Backward**: the chain rule "
        "carries the loss's gradient back to every weight, and each weight moves a little "
        "against it. Here you do both by hand, with numbers small enough to check on paper."
    )
)
neuron_tab, network_tab, learn_tab, tutorial_tab = st.tabs(
    [
        _("1 · One neuron"),
        _("2 · A network, step by step"),
        _("3 · Learn"),
        _("4 · Back to the tutorial"),
    ]
)
with neuron_tab:
    neuron_view()

with network_tab:
    left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    preset = left.selectbox(
        _("Network"),
        backprop.presets(),
        format_func=lambda name: _(PRESET_TITLES[name]),
        key="bp_preset",
        on_change=reset_step,
    )
    ensure_defaults(preset)
    st.caption(_(PRESET_NOTES[preset]))
    count = backprop.preset(preset).sample_count
    if count > 1:
        middle.selectbox(
            _("Sample shown"),
            range(count),
            format_func=lambda k: _("sample {number} of {count}", number=k + 1, count=count),
            key="bp_sample",
            on_change=reset_step,
        )
    else:
        st.session_state["bp_sample"] = 0
    render_controls(preset, right)
    try:
        network = build_network(preset)
    except DlcoreError as error:
        st.error(str(error))
        st.stop()
    trace = network.forward()
    render_steps(network, trace)
    st.subheader(_("Checks in plain view"))
    render_checks(network)

with learn_tab:
    st.markdown(
        _(
            "The network of tab 2, whose loss is now E = **{loss}**. Gradient descent moves "
            "every weight against its gradient, by the learning rate η times it.",
            loss=number(trace.loss, 9),
        )
    )
    render_update(preset)
    st.subheader(_("Then many updates"))
    render_training(preset, network)

with tutorial_tab:
    render_tutorial(network)
