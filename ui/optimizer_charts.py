"""The Optimizers page's charts, as plain Plotly specs (see ui/plain_figure.py)."""

import numpy as np
import pandas as pd

from dlcore import optimizers as opt
from dlcore import readable
from dlcore.arithmetic import ceil_div
from dlcore.i18n import N_, _
from ui.plain_figure import READABLE_AXIS, PlainFigure, values

# One line style per optimizer, the same on every chart of the page. The colours are Okabe and
# Ito's palette (distinct for the common kinds of colour blindness), plus grey for a ninth. The
# five optimizers raced by default are solid, in five colours that stay apart on the blue map
# and on white (orange and vermillion look alike in thin lines, so only one of them is among
# the five); the other four are dashed or dotted too, so that no two lines rely on colour alone.
LINE_STYLES = {
    "sgd": {"color": "#000000", "dash": "solid"},  # black
    "momentum": {"color": "#56B4E9", "dash": "solid"},  # sky blue
    "nesterov": {"color": "#0072B2", "dash": "dash"},  # blue
    "rmsprop": {"color": "#009E73", "dash": "solid"},  # bluish green
    "adagrad": {"color": "#E69F00", "dash": "dash"},  # orange
    "adadelta": {"color": "#999999", "dash": "dot"},  # grey
    "adam": {"color": "#D55E00", "dash": "solid"},  # vermillion
    "adamw": {"color": "#F0E442", "dash": "dash"},  # yellow
    "nadam": {"color": "#CC79A7", "dash": "solid"},  # reddish purple
}
# Inside Adam, everything is drawn in Adam's colour: coordinate x in it, y in a darker shade.
ADAM_COORDINATE_COLORS = {"x": LINE_STYLES["adam"]["color"], "y": "#7A3600"}
ADAM_COLUMNS = {
    "g": "gradient",
    "m": "m",
    "v": "v",
    "m̂": "m_hat",
    "v̂": "v_hat",
    "α/(√v̂+ε̂)": "effective_learning_rate",
    N_("step"): "update",  # the one header in words (translated where the table is built)
}
MAX_FRAMES = 50
# redraw=True: after an animation run with redraw=False, Plotly stops reporting clicks on the
# map (the start-point picker); the picture behind the paths is a layout image, cheap to redraw.
STILL = {
    "mode": "immediate",
    "frame": {"duration": 0, "redraw": True},
    "transition": {"duration": 0},
}


def race_figure(found, picture: str) -> PlainFigure:
    """Contour picture, clickable grid, minima, full paths, and one ball per optimizer that the
    Plotly animation moves along its path (frames sample every few steps, so it stays light)."""
    surface, results = found.surface, found.results
    (x0, x1), (y0, y1) = surface.x_range, surface.y_range
    gx, gy = np.meshgrid(np.linspace(x0, x1, 31), np.linspace(y0, y1, 31))
    data = [
        {
            "type": "scatter",
            "x": values(gx.ravel()),
            "y": values(gy.ravel()),
            "mode": "markers",
            "marker": {"size": 14, "opacity": 0},
            "hovertemplate": _("start here: ({x}, {y})", x="%{x:.2f}", y="%{y:.2f}")
            + "<extra></extra>",
            "showlegend": False,
        }
    ]
    marks = [(surface.minima, {"symbol": "star", "size": 16, "color": "gold"})]
    marks.append(([found.start], {"size": 10, "color": "white", "line": {"width": 2}}))
    for points, marker in marks:
        if points:
            xs, ys = zip(*points, strict=True)
            data.append(
                {
                    "type": "scatter",
                    "x": list(xs),
                    "y": list(ys),
                    "mode": "markers",
                    "marker": marker,
                    "hoverinfo": "skip",
                    "showlegend": False,
                }
            )
    for name, result in results.items():
        data.append(
            {
                "type": "scatter",
                "x": values(result.path[:, 0]),
                "y": values(result.path[:, 1]),
                "mode": "lines",
                "opacity": 0.9,
                "name": _(opt.get(name).label),
                "line": {**LINE_STYLES[name], "width": 2},
            }
        )
    colors = [LINE_STYLES[n]["color"] for n in results]

    def balls(k: int) -> dict:
        ends = np.array([r.path[min(k, len(r.path) - 1)] for r in results.values()])
        return {
            "type": "scatter",
            "x": values(ends[:, 0]),
            "y": values(ends[:, 1]),
            "mode": "markers",
            "showlegend": False,
            "hoverinfo": "skip",
            "marker": {"size": 12, "color": colors, "line": {"width": 1.5, "color": "black"}},
        }

    steps = max(len(r.path) for r in results.values()) - 1
    shown = sorted({*range(0, steps, ceil_div(steps, MAX_FRAMES) or 1), steps})
    data.append(balls(steps))
    frames = [{"data": [balls(k)], "traces": [len(data) - 1], "name": str(k)} for k in shown]
    buttons = [
        (_("▶ Play"), [None, {**STILL, "frame": {"duration": 80, "redraw": True}}]),
        (_("❚❚ Pause"), [[None], STILL]),
    ]
    axis = {**READABLE_AXIS, "showgrid": False, "zeroline": False}
    layout = {
        "height": 620,
        "margin": {"t": 40, "b": 10, "l": 10, "r": 10},
        "legend": {"orientation": "h", "x": 0, "y": 1.01, "yanchor": "bottom"},
        "images": [
            # The contour is a layout image: Plotly drops contour traces while it animates.
            {
                "source": picture,
                "xref": "x",
                "yref": "y",
                "x": x0,
                "y": y1,
                "sizex": x1 - x0,
                "sizey": y1 - y0,
                "sizing": "stretch",
                "layer": "below",
            }
        ],
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 45},
                "buttons": [
                    {"label": label, "method": "animate", "args": args} for label, args in buttons
                ],
            }
        ],
        "sliders": [
            {
                "active": len(shown) - 1,
                "x": 0.22,
                "len": 0.78,
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 30},
                "currentvalue": {"prefix": _("step") + " "},
                "steps": [
                    {"label": str(k), "method": "animate", "args": [[str(k)], STILL]} for k in shown
                ],
            }
        ],
        "xaxis": {"range": [x0, x1], "title": {"text": "x"}, **axis},
        "yaxis": {"range": [y0, y1], "title": {"text": "y"}, **axis},
    }
    return PlainFigure({"data": data, "layout": layout, "frames": frames})


def loss_figure(found) -> PlainFigure:
    """Each optimizer's loss per step: the gap to the minimum on a log scale when there is one."""
    surface = found.surface
    data = [
        {
            "type": "scatter",
            "y": (result.losses - (surface.min_value or 0.0)).tolist(),
            "name": _(opt.get(name).label),
            "line": LINE_STYLES[name],
        }
        for name, result in found.results.items()
    ]
    yaxis = {"type": "log", "title": {"text": "J(w) − J*"}} if surface.has_minimum else {}
    layout = {
        "height": 340,
        "margin": {"t": 30, "b": 10},
        "title": {"text": _("Loss per step")},
        "xaxis": {**READABLE_AXIS, "title": {"text": _("step")}},
        "yaxis": {**READABLE_AXIS, **(yaxis or {"title": {"text": "J(w)"}})},
        "legend": {"orientation": "h", "y": -0.25},
    }
    return PlainFigure({"data": data, "layout": layout})


def adam_figure(a: opt.AdamTrace) -> PlainFigure:
    """Adam's step per coordinate (solid) next to its effective learning rate α/(√v̂+ε̂)
    (dotted), coordinate x in Adam's colour and y in a darker shade of it."""
    t = a.t.tolist()
    data = []
    for i, axis in enumerate("xy"):
        color = ADAM_COORDINATE_COLORS[axis]
        for name, series, dash in (
            (_("|step {axis}|", axis=axis), np.abs(a.update[:, i]), "solid"),
            (f"α/(√v̂+ε̂) {axis}", a.effective_learning_rate[:, i], "dot"),
        ):
            line = {"color": color, "dash": dash}
            data.append(
                {"type": "scatter", "x": t, "y": series.tolist(), "name": name, "line": line}
            )
    layout = {
        "height": 300,
        "margin": {"t": 30, "b": 10},
        "title": {"text": _("Step size per coordinate")},
        "xaxis": {**READABLE_AXIS, "title": {"text": "t"}},
        "yaxis": {**READABLE_AXIS, "type": "log"},
    }
    return PlainFigure({"data": data, "layout": layout})


def adam_table(a: opt.AdamTrace, axis: str) -> pd.DataFrame:
    """Adam's variables per step for one coordinate ("x" or "y"), written as a learner reads
    them (dlcore.readable), one column per variable."""
    column = "xy".index(axis)
    table = {
        _(header): [readable.number(value) for value in getattr(a, field)[:, column]]
        for header, field in ADAM_COLUMNS.items()
    }
    return pd.DataFrame(table, index=pd.Index(a.t.astype(int), name="t"))
