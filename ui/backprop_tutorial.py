"""Back to the tutorial: its §3.3 pseudocode, line by line, against what the lesson just did."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dlcore import backprop
from dlcore.i18n import N_, _

# The tutorial's §3.3 loop, as the learner will meet it again; its comments are the
# tutorial's own (前向传播, 计算损失, 反向传播, 权重更新), read in the learner's language.
PSEUDOCODE_LINES = (
    ("for epoch in range(num_epochs):", None),
    ("    for batch in data_loader:", None),
    ("        output = model(batch)", N_("forward propagation")),
    ("        loss = loss_function(output, target)", N_("compute the loss")),
    ("        gradients = compute_gradients(model, loss)", N_("backward propagation")),
    ("        optimizer.update_gradients(gradients)", N_("update the weights")),
)

MAPPING = [
    (
        "output = model(batch)",
        N_("Next ▶ through net and out of every unit: the forward pass."),
    ),
    ("loss = loss_function(output, target)", N_("The last forward node, E.")),
    (
        "gradients = compute_gradients(model, loss)",
        N_(
            "Next ▶ through the backward steps: the chain rule, node by node, back to every weight."
        ),
    ),
    ("optimizer.update_gradients(gradients)", N_("Apply one update: w ← w − η·∂E/∂w.")),
    ("for epoch … for batch …", N_("Train N steps: the same four lines, repeated.")),
]


def pseudocode() -> str:
    """The §3.3 loop with its comments in the reader's language, aligned in one column."""
    width = max(len(code) for code, _comment in PSEUDOCODE_LINES) + 2
    lines = [
        code if comment is None else f"{code.ljust(width)}# {_(comment)}"
        for code, comment in PSEUDOCODE_LINES
    ]
    return "\n".join(lines) + "\n"


def render_tutorial(network: backprop.Network) -> None:
    st.markdown(
        _(
            "The tutorial's §3.2 steps 3–4 and its §3.3 pseudocode are exactly what you just "
            "did by hand. Each line of the loop, and where it happened on this page:"
        )
    )
    st.code(pseudocode(), language="python")
    table = pd.DataFrame(
        [(code, _(text)) for code, text in MAPPING],
        columns=[_("pseudocode (§3.3)"), _("on this page")],
    )
    st.dataframe(table, hide_index=True, key="bp_mapping_table")
    st.markdown(
        _(
            "The same network in tf.keras: `tf.GradientTape` records the forward pass and plays "
            "it backwards, the chain rule done for you. It prints the loss before and after one "
            "update, the numbers of the update section above. Copy it with the button in the "
            "corner."
        )
    )
    st.code(backprop.keras_code(network), language="python")
