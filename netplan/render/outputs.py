"""What the render stage writes into a run's output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netplan.render.data import MapData
from netplan.render.figures import write_figures
from netplan.render.layers import derive
from netplan.render.plan_map import render_options, write_plan_map


def write_render_outputs(
    plan: Any,
    folder: str | Path,
    lang: str | None = None,
    basemap: str | None = None,
    offline: bool | None = None,
    tianditu_token: str | None = None,
) -> dict[str, Path]:
    """Write ``map.html``, ``network.png`` and ``coverage_curve.png`` into ``folder``.

    Options left as None come from the scenario (``lang``, ``outputs.basemap``,
    ``outputs.offline``, ``outputs.tianditu_token``).

    Returns
    -------
    dict
        ``map``, ``network_png``, ``coverage_png`` -> written paths.
    """
    folder = Path(folder)
    opts = render_options(plan, lang, basemap, offline, tianditu_token)
    data = MapData.from_plan(plan)
    derived = derive(data)
    out = {"map": write_plan_map(data, folder / "map.html", opts["lang"], opts["basemap"], opts["offline"], opts["token"], derived)}
    out.update(write_figures(data, folder, opts["lang"], derived))
    return out
