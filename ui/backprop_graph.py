"""The network of the Forward & backward lesson as a Graphviz DOT string, "value | grad" per node.

Nodes appear with their value once the forward pass has reached them and with their gradient
once the backward pass has; the node of the current step is highlighted. Weights are the
labels of the edges they scale, with their gradient beneath.
"""

from __future__ import annotations

from dlcore import backprop
from dlcore.i18n import _
from dlcore.readable import number

CURRENT = "#ffd166"  # the node the current step computes
DONE = "#e8f1fb"  # nodes whose value is known
WAITING = "#f4f4f4"  # nodes the forward pass has not reached yet
GRADIENT_COLOR = "#c0392b"  # gradients, as on the page's formulas


def step_count(sample: backprop.SampleTrace) -> int:
    """Steps to walk: every forward node, then every backward one (step 0 shows the inputs)."""
    return len(sample.forward) + len(sample.backward)


def current_node(sample: backprop.SampleTrace, step: int) -> tuple[str, str]:
    """("forward" | "backward" | "start", node name) of step `step`."""
    if step == 0:
        return "start", ""
    if step <= len(sample.forward):
        return "forward", sample.forward[step - 1].node
    return "backward", sample.backward[step - len(sample.forward) - 1].node


def network_dot(network: backprop.Network, sample: backprop.SampleTrace, step: int) -> str:
    """DOT of the network for `sample`, as far as `step` has computed it."""
    forward_done = min(step, len(sample.forward))
    values = sample.values(forward_done)
    gradients = sample.gradients(max(0, step - len(sample.forward)))
    _, highlighted = current_node(sample, step)
    weights = network.weights
    inputs, hidden, outputs = network.sizes
    lines = [
        "digraph network {",
        '  rankdir=LR; nodesep=0.2; ranksep=0.55; bgcolor="transparent"; ordering=out;',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12,',
        '        margin="0.06,0.03"];',
        '  edge [fontname="Helvetica", fontsize=10, color="#7a7a7a"];',
    ]
    x = network.inputs[sample.index]
    for i in range(inputs):
        lines.append(_node(f"i{i + 1}", x[i], None, DONE))
    for name in (n for n in weights if n.startswith("b")):
        grad = gradients.get(name)
        lines.append(_node(name, weights[name], grad, CURRENT if name == highlighted else DONE))
    for unit, size in (("h", hidden), ("o", outputs)):
        for j in range(size):
            for kind in ("net", "out"):
                node = f"{kind}_{unit}{j + 1}"
                fill = CURRENT if node == highlighted else (DONE if node in values else WAITING)
                lines.append(_node(node, values.get(node), gradients.get(node), fill))
            lines.append(
                f'  net_{unit}{j + 1} -> out_{unit}{j + 1} [label="{_symbol(network, unit)}"];'
            )
    fill = CURRENT if highlighted == "E" else (DONE if "E" in values else WAITING)
    lines.append(_node("E", values.get("E"), 1.0 if gradients else None, fill))
    lines += _weight_edges(network, gradients, highlighted)
    lines += [f"  out_o{k + 1} -> E;" for k in range(outputs)]
    lines += _ranks(network)
    lines.append("}")
    return "\n".join(lines)


def _node(name: str, value: float | None, gradient: float | None, fill: str) -> str:
    """A node as a small table: its name, "value …" and, once known, "grad …" in red."""
    shown = "?" if value is None else number(value, 5)
    value_text = _("value {value}", value=shown)
    rows = f"<tr><td><b>{name}</b></td></tr><tr><td>{value_text}</td></tr>"
    if gradient is not None:
        grad = _("grad {gradient}", gradient=number(gradient, 5))
        rows += f'<tr><td><font color="{GRADIENT_COLOR}">{grad}</font></td></tr>'
    table = f'<table border="0" cellspacing="0" cellpadding="1">{rows}</table>'
    return f'  {name} [label=<{table}>, fillcolor="{fill}"];'


def _symbol(network: backprop.Network, unit: str) -> str:
    activation = network.activations[0 if unit == "h" else 1]
    return {"sigmoid": "σ", "relu": "ReLU", "linear": _("identity")}[activation]


def _weight_edges(network, gradients: dict, highlighted: str) -> list[str]:
    """i → net_h and out_h → net_o edges labelled by their weight; bias edges unlabelled."""
    inputs, hidden, outputs = network.sizes
    weights, names = network.weights, iter(n for n in network.weights if n.startswith("w"))
    edges = []
    layers = ((("i", inputs), "h", hidden), (("out_h", hidden), "o", outputs))
    for (source, size), unit, count in layers:
        for j in range(count):
            for i in range(size):
                name = next(names)
                label = f"{name} = {number(weights[name], 5)}"
                if name in gradients:
                    label += "\\n" + _("grad {gradient}", gradient=number(gradients[name], 5))
                style = ', penwidth=2.5, color="#e09f00"' if name == highlighted else ""
                edges.append(
                    f'  {source}{i + 1} -> net_{unit}{j + 1} [label="{label}", '
                    f'fontcolor="{GRADIENT_COLOR if name in gradients else "#333333"}"{style}];'
                )
    biases = [n for n in weights if n.startswith("b")]
    for layer, (unit, count) in enumerate((("h", hidden), ("o", outputs))):
        for j in range(count):
            bias = biases[layer] if network.shared_biases else biases[j + layer * hidden]
            edges.append(f"  {bias} -> net_{unit}{j + 1} [style=dashed, arrowsize=0.6];")
    return edges


def _ranks(network: backprop.Network) -> list[str]:
    """One column per layer stage, top to bottom in numbering order (i1 above i2, h1 above h2)."""
    inputs, hidden, outputs = network.sizes
    biases = [n for n in network.weights if n.startswith("b")]
    first_biases = biases[:1] if network.shared_biases else biases[:hidden]
    second_biases = biases[1:] if network.shared_biases else biases[hidden:]
    columns = [
        [f"i{i + 1}" for i in range(inputs)] + first_biases,
        [f"net_h{j + 1}" for j in range(hidden)],
        [f"out_h{j + 1}" for j in range(hidden)] + second_biases,
        [f"net_o{k + 1}" for k in range(outputs)],
        [f"out_o{k + 1}" for k in range(outputs)],
    ]
    lines = []
    for column in columns:
        lines.append("  { rank=same; " + "; ".join(column) + "; }")
        if len(column) > 1:
            lines.append("  " + " -> ".join(column) + " [style=invis];")
    return lines
