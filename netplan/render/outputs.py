"""What the render stage writes into a run's output folder, from a plan or (``netplan render``) from the folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netplan.render.data import MapData
from netplan.render.figures import write_figures
from netplan.render.layers import derive
from netplan.render.plan_map import draw_plan_map, render_options, write_plan_map


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
    options = render_options(plan, lang=lang, basemap=basemap, offline=offline, tianditu_token=tianditu_token)
    data = MapData.from_plan(plan)
    derived = derive(data)
    out = {"map": draw_plan_map(data, options, derived).save(folder / "map.html")}
    out.update(write_figures(data, folder, options.lang, derived))
    return out


def render_folder(
    run_dir: str | Path,
    *,
    lang: str | None = None,
    basemap: str | None = None,
    offline: bool | None = None,
    tianditu_token: str | None = None,
    figures: bool = True,
) -> dict[str, Path]:
    """Redraw a finished run's map (and figures) from its output folder, without solving anything.

    Reads the GeoPackage, ``kpis.csv`` and ``manifest.json`` (see
    :meth:`MapData.from_folder`) and rewrites ``map.html`` (and
    ``network.png``, ``coverage_curve.png``, ``coverage_curve.csv``) in place.

    Parameters
    ----------
    run_dir
        Output folder of ``netplan run``.
    lang
        ``"zh"`` or ``"en"`` (default: the run's scenario language).
    basemap, offline, tianditu_token
        Map options (default: the run's scenario ``outputs`` settings; offline
        forces ``basemap="none"``).
    figures
        Also redraw the PNG figures.

    Returns
    -------
    dict
        ``map`` (and ``network_png``, ``coverage_png``, ``coverage_csv``) -> written paths.

    Raises
    ------
    NetplanError
        When the folder is not a ``netplan run`` output folder, or the map
        options cannot work (Tianditu without a token).
    """
    folder = Path(run_dir)
    data = MapData.from_folder(folder)
    recorded = data.outputs
    if offline is None:
        offline = bool(recorded.get("offline", False))
    if basemap is None and not offline:
        basemap = recorded.get("basemap") or "osm"
    token = tianditu_token or recorded.get("tianditu_token")
    lang = lang or data.lang
    derived = derive(data)
    out = {
        "map": write_plan_map(
            data,
            folder / "map.html",
            lang=lang,
            basemap=basemap,
            offline=offline,
            tianditu_token=token,
            derived=derived,
        )
    }
    if figures:
        out.update(write_figures(data, folder, lang, derived))
    return out
