"""Back to the tutorial: its §3.3 pseudocode, line by line, against what the lesson just did."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dlcore import backprop

# The tutorial's §3.3 loop (its comments in English), as the learner will meet it again.
PSEUDOCODE = """\
for epoch in range(num_epochs):
    for batch in data_loader:
        output = model(batch)                       # forward propagation
        loss = loss_function(output, target)        # compute the loss
        gradients = compute_gradients(model, loss)  # backward propagation
        optimizer.update_gradients(gradients)       # update the weights
"""

MAPPING = [
    ("output = model(batch)", "Next ▶ through net and out of every unit: the forward pass."),
    ("loss = loss_function(output, target)", "The last forward node, E."),
    (
        "gradients = compute_gradients(model, loss)",
        "Next ▶ through the backward steps: the chain rule, node by node, back to every weight.",
    ),
    ("optimizer.update_gradients(gradients)", "Apply one update: w ← w − η·∂E/∂w."),
    ("for epoch … for batch …", "Train N steps: the same four lines, repeated."),
]


def render_tutorial(network: backprop.Network) -> None:
    st.markdown(
        "The tutorial's §3.2 steps 3–4 and its §3.3 pseudocode are exactly what you just did by "
        "hand. Each line of the loop, and where it happened on this page:"
    )
    st.code(PSEUDOCODE, language="python")
    table = pd.DataFrame(MAPPING, columns=["pseudocode (§3.3)", "on this page"])
    st.dataframe(table, hide_index=True, key="bp_mapping_table")
    st.markdown(
        "The same network in tf.keras: `tf.GradientTape` records the forward pass and plays it "
        "backwards, the chain rule done for you. It prints the loss before and after one update, "
        "the numbers of the update section above. Copy it with the button in the corner."
    )
    st.code(backprop.keras_code(network), language="python")
