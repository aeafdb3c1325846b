"""The Optimizers page's charts, as plain Plotly specs (see ui/plain_figure.py)."""

import numpy as np
import pandas as pd

from dlcore import optimizers as opt
from dlcore.arithmetic import ceil_div
from ui.plain_figure import PlainFigure, values

PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#8c564b", "#ff6692")
COLORS = dict(zip(opt.names(), [*PALETTE, "#7f7f7f"], strict=True))
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
            "hovertemplate": "start here: (%{x:.2f}, %{y:.2f})<extra></extra>",
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
                "opacity": 0.75,
                "name": opt.get(name).label,
                "line": {"color": COLORS[name], "width": 2},
            }
        )
    colors = [COLORS[n] for n in results]

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
        ("▶ Play", [None, {**STILL, "frame": {"duration": 80, "redraw": True}}]),
        ("❚❚ Pause", [[None], STILL]),
    ]
    axis = {"showgrid": False, "zeroline": False}
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
                "currentvalue": {"prefix": "step "},
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
            "name": opt.get(name).label,
            "line": {"color": COLORS[name]},
        }
        for name, result in found.results.items()
    ]
    yaxis = {"type": "log", "title": {"text": "J(w) − J*"}} if surface.has_minimum else {}
    layout = {
        "height": 340,
        "margin": {"t": 30, "b": 10},
        "title": {"text": "Loss per step"},
        "xaxis": {"title": {"text": "step"}},
        "yaxis": yaxis or {"title": {"text": "J(w)"}},
        "legend": {"orientation": "h", "y": -0.25},
    }
    return PlainFigure({"data": data, "layout": layout})


def adam_figure(a: opt.AdamTrace) -> PlainFigure:
    """Adam's step per coordinate next to its effective learning rate α/(√v̂+ε̂)."""
    t = a.t.tolist()
    data = []
    for i, axis in enumerate("xy"):
        data.append({"type": "scatter", "x": t, "y": np.abs(a.update[:, i]).tolist()})
        data[-1]["name"] = f"|step {axis}|"
        data.append({"type": "scatter", "x": t, "y": a.effective_learning_rate[:, i].tolist()})
        data[-1].update(name=f"α/(√v̂+ε̂) {axis}", line={"dash": "dot"})
    layout = {
        "height": 300,
        "margin": {"t": 30, "b": 10},
        "title": {"text": "Step size per coordinate"},
        "xaxis": {"title": {"text": "t"}},
        "yaxis": {"type": "log"},
    }
    return PlainFigure({"data": data, "layout": layout})


def adam_table(a: opt.AdamTrace) -> pd.DataFrame:
    """Adam's variables per step, one column per variable and coordinate."""
    columns = {
        "g": a.gradient,
        "m": a.m,
        "v": a.v,
        "m̂": a.m_hat,
        "v̂": a.v_hat,
        "α/(√v̂+ε̂)": a.effective_learning_rate,
        "step": a.update,
    }
    table = {f"{k} {axis}": v[:, i] for k, v in columns.items() for i, axis in enumerate("xy")}
    return pd.DataFrame(table, index=pd.Index(a.t, name="t"))
