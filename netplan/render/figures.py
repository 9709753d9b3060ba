"""Static figures (PNG, matplotlib's Agg canvas; pyplot and its global state are not used).

* ``network.png``: the network per tier over the city's streets: service
  areas, catchments, links, facilities (shape and colour per tier; black
  edge = existing), demand and uncovered demand, restricted zones.
* ``coverage_curve.png`` (and its numbers, ``coverage_curve.csv``): the
  share of households within d metres' walk of a collection point, for
  d = 0 .. 1500 m: the sited points, the existing ones, and all candidates
  (the most any layout could reach).

Chinese text is drawn with the bundled "netplan Sans SC" (``assets/netplan-sans-sc.otf``: Noto Sans CJK SC cut to
the 3,755 common hanzi of GB2312 level 1, Latin and CJK punctuation, and every label; SIL Open Font License), so
figures read in Chinese on a machine without system CJK fonts and look the same on every machine. A rarer character
(a place name outside that set) falls back to an installed CJK font when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from netplan.io import write_csv, write_with
from netplan.render import analysis as an
from netplan.render.data import MapData
from netplan.render.labels import DEMAND_COLOUR, RESTRICTED_COLOUR, TIER_COLOURS, TIER_MARKERS, label, tier_name
from netplan.render.layers import Derived, derive

log = logging.getLogger(__name__)

CJK_FAMILIES = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
]
CURVE_STEP_M = 10
CURVE_MAX_M = 1500


BUNDLED_FONT = Path(__file__).resolve().parent / "assets" / "netplan-sans-sc.otf"


@lru_cache(maxsize=1)
def bundled_font() -> str | None:
    """The family name of the bundled CJK font, registered with matplotlib (None if the file is missing)."""
    if not BUNDLED_FONT.is_file():  # pragma: no cover - a broken installation
        return None
    font_manager.fontManager.addfont(str(BUNDLED_FONT))
    return font_manager.FontProperties(fname=str(BUNDLED_FONT)).get_name()


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, registering system fonts matplotlib has not cached yet."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FAMILIES:
        if name in known:
            return name
    for path in font_manager.findSystemFonts():
        low = Path(path).name.lower()
        if any(k in low for k in ("cjk", "sourcehan", "wqy", "msyh", "simhei", "pingfang", "notosanssc")):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in known), None)


def _fonts(lang: str) -> tuple[str, list[str]]:
    """The language the figure is labelled in, and the font families (matplotlib falls back glyph by glyph)."""
    cjk = [f for f in (bundled_font(), cjk_font()) if f]
    if lang == "zh":
        if not cjk:  # pragma: no cover - only without the bundled font
            log.warning("no CJK font found (the bundled one is missing): figures are labelled in English")
            return "en", ["DejaVu Sans"]
        return "zh", [*cjk, "DejaVu Sans"]
    # English labels, but a scenario title or place name may still be Chinese
    return "en", ["DejaVu Sans", *cjk]


def _lines(geoms: np.ndarray) -> list[np.ndarray]:
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    return [shapely.get_coordinates(p) for p in parts if p.geom_type == "LineString"]


def _rings(geoms: np.ndarray) -> list[np.ndarray]:
    parts = shapely.get_parts(geoms[~shapely.is_empty(geoms)])
    return [shapely.get_coordinates(p.exterior) for p in parts if p.geom_type == "Polygon"]


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None}))


def _scale_bar(ax, width_m: float, lang: str) -> None:
    nice = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000]
    length = max([n for n in nice if n <= width_m / 5] or [nice[0]])
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    x, y = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot([x, x + length], [y, y], color="black", lw=3, solid_capstyle="butt", zorder=20)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(x + length / 2, y + 0.012 * (y1 - y0), text, ha="center", va="bottom", fontsize=9, zorder=20)


def _draw_links(ax: Axes, asg: gpd.GeoDataFrame, tiers: list[int]) -> None:
    """The links of each level (demand to tier 1, tier t-1 to tier t), wider for higher tiers."""
    for t in tiers:
        level = "demand-t1" if t == 1 else f"t{t - 1}-t{t}"
        sub = asg[asg["level"] == level]
        if len(sub):
            ax.add_collection(
                LineCollection(
                    _lines(sub.geometry.to_numpy()),
                    colors=TIER_COLOURS[t],
                    linewidths=0.6 if t == 1 else 1.2 + 0.6 * t,
                    alpha=0.5 if t == 1 else 0.8,
                    zorder=6,
                )
            )


def _draw_demand(
    ax: Axes, demand: gpd.GeoDataFrame, unc: np.ndarray, handles: list[Artist], L: Callable[[str], str]
) -> None:
    """Demand points sized by households, uncovered ones ringed; their legend entries go to ``handles``."""
    xy = shapely.get_coordinates(demand.geometry.representative_point().to_numpy())
    hh = demand["households"].fillna(0).to_numpy(float)
    ax.scatter(xy[:, 0], xy[:, 1], s=np.clip(hh / 8, 2, 60), c=DEMAND_COLOUR, alpha=0.55, linewidths=0, zorder=7)
    handles.append(Line2D([], [], marker="o", ls="", color=DEMAND_COLOUR, alpha=0.6, label=L("demand")))
    if unc.any():
        ax.scatter(xy[unc, 0], xy[unc, 1], s=110, facecolors="none", edgecolors="black", linewidths=1.4, zorder=8)
        handles.append(
            Line2D(
                [], [], marker="o", ls="", mfc="none", mec="black", ms=9, label=f"{L('uncovered')} ({int(unc.sum())})"
            )
        )


def _draw_facilities(
    ax: Axes, fac: gpd.GeoDataFrame, tiers: list[int], handles: list[Artist], lang: str, L: Callable[[str], str]
) -> None:
    """Facilities per tier, existing ones with a black edge; their legend entries go to ``handles``."""
    for t in tiers:
        sub = fac[fac["tier"] == t]
        if sub.empty:
            continue
        xy = shapely.get_coordinates(sub.geometry.to_numpy())
        existing = sub["existing"].astype(bool).to_numpy()
        size = [28, 80, 130, 260][t - 1]
        for mask, edge, lw in ((~existing, "white", 0.8), (existing, "black", 1.8)):
            if mask.any():
                ax.scatter(
                    xy[mask, 0],
                    xy[mask, 1],
                    s=size,
                    marker=TIER_MARKERS[t],
                    c=TIER_COLOURS[t],
                    edgecolors=edge,
                    linewidths=lw,
                    zorder=9 + t,
                )
        handles.append(
            Line2D(
                [],
                [],
                marker=TIER_MARKERS[t],
                ls="",
                color=TIER_COLOURS[t],
                mec="white",
                ms=8 + t,
                label=f"{tier_name(lang, t)} ({len(sub)})",
            )
        )
    handles.append(
        Line2D([], [], marker="o", ls="", color="#9e9e9e", mec="black", mew=1.8, ms=8, label=L("existing_kept"))
    )


def network_figure(data: MapData, derived: Derived, lang: str) -> Figure:
    """The network per tier over the streets (projected to the city's UTM zone)."""
    lang, family = _fonts(lang)
    L = lambda key: label(lang, key)  # noqa: E731
    crs = data.demand.estimate_utm_crs() if len(data.demand) else "EPSG:3857"

    def proj(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
        return None if frame is None or len(frame) == 0 else frame.to_crs(crs)

    fig = Figure(figsize=(10, 10), dpi=150)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.93))
    ax.set_aspect("equal")
    ax.set_axis_off()
    handles: list[Artist] = []
    text: dict[str, Any] = {"family": family}
    walk, roads = proj(data.walkways), proj(data.roads)
    if walk is not None:
        ax.add_collection(LineCollection(_lines(walk.geometry.to_numpy()), colors="#d5dde1", linewidths=0.35, zorder=1))
    if roads is not None:
        ax.add_collection(LineCollection(_lines(roads.geometry.to_numpy()), colors="#90a4ae", linewidths=0.7, zorder=2))
        handles.append(Line2D([], [], color="#90a4ae", lw=1.2, label=L("roads")))
    rest = proj(data.restrictions)
    if rest is not None:
        zones = rest[rest["kind"] == "zone"]
        if len(zones):
            ax.add_collection(
                PolyCollection(
                    _rings(zones.geometry.to_numpy()),
                    facecolors=RESTRICTED_COLOUR,
                    edgecolors="none",
                    alpha=0.07,
                    zorder=3,
                )
            )
            ax.add_collection(
                PolyCollection(
                    _rings(zones.geometry.to_numpy()),
                    facecolors="none",
                    edgecolors=RESTRICTED_COLOUR,
                    linewidths=1.6,
                    linestyles="--",
                    zorder=3,
                )
            )
            handles.append(
                Patch(facecolor="#fbe9e7", edgecolor=RESTRICTED_COLOUR, linestyle="--", label=L("restricted"))
            )
    service = proj(derived.service)
    if service is not None:
        ax.add_collection(
            PolyCollection(
                _rings(service.geometry.to_numpy()),
                facecolors=TIER_COLOURS[1],
                edgecolors=TIER_COLOURS[1],
                alpha=0.13,
                linewidths=0.6,
                zorder=4,
            )
        )
        handles.append(Patch(facecolor=TIER_COLOURS[1], alpha=0.3, label=L("service_area")))
    for t, frame in derived.catchments.items():
        ax.add_collection(
            PolyCollection(
                _rings(frame.to_crs(crs).geometry.to_numpy()),
                facecolors="none",
                edgecolors=TIER_COLOURS[t],
                linewidths=1.4,
                linestyles="--",
                zorder=5,
            )
        )
    if derived.catchments:
        handles.append(Patch(facecolor="none", edgecolor=TIER_COLOURS[2], linestyle="--", label=L("catchment_generic")))
    asg = proj(data.assignments)
    if asg is not None:
        _draw_links(ax, asg, [tier.tier for tier in data.tiers])
    demand = proj(data.demand)
    if demand is not None:
        _draw_demand(ax, demand, derived.uncovered, handles, L)
    fac = proj(data.facilities)
    if fac is not None:
        _draw_facilities(ax, fac, [tier.tier for tier in data.tiers], handles, lang, L)
    frames = [f for f in (demand, fac, roads) if f is not None]
    if frames:
        b = frames[0].total_bounds
        pad = 0.04 * max(b[2] - b[0], b[3] - b[1], 1.0)
        ax.set_xlim(b[0] - pad, b[2] + pad)
        ax.set_ylim(b[1] - pad, b[3] + pad)
        _scale_bar(ax, b[2] - b[0] + 2 * pad, lang)
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.92, prop={"family": family, "size": 8})
    fig.suptitle(f"{data.title} — {L('network_map')}", fontsize=14, fontfamily=family, y=0.985)
    ax.text(
        0.995,
        0.002,
        label(lang, "credit"),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="#555",
        **text,
    )
    return fig


def coverage_table(data: MapData, derived: Derived) -> pd.DataFrame:
    """Share of households within d m of a collection point, d = 0, 10, ..., 1500."""
    steps = np.arange(0, CURVE_MAX_M + 1, CURVE_STEP_M, dtype=float)
    hh = data.demand["households"].fillna(0).to_numpy(float)
    table = {"distance_m": steps.astype(int)}
    sites = data.sites
    if derived.sited:
        table["open"] = an.coverage_curve(derived.nearest, hh, steps)
    if sites is not None and len(sites) and derived.graph is not None:
        t1 = sites[sites["tier1"].astype(bool) & sites.get("snap_ok", pd.Series(True, index=sites.index)).astype(bool)]
        existing = t1[t1["existing"].astype(bool)]
        table["existing"] = an.coverage_curve(
            an.nearest_distance(derived.graph, data.demand, existing, CURVE_MAX_M), hh, steps
        )
        table["candidates"] = an.coverage_curve(
            an.nearest_distance(derived.graph, data.demand, t1, CURVE_MAX_M), hh, steps
        )
    return pd.DataFrame(table)


def coverage_figure(data: MapData, table: pd.DataFrame, lang: str) -> Figure:
    """The coverage curve(s) with the tier-1 walking radius marked."""
    lang, family = _fonts(lang)
    L = lambda key: label(lang, key)  # noqa: E731
    fig = Figure(figsize=(8, 5), dpi=150)
    ax = fig.add_subplot()
    radius = data.tier(1).radius_m
    styles = {
        "open": (L("open_points"), TIER_COLOURS[1], "-", 2.4),
        "existing": (L("existing_points"), "#424242", "-.", 1.6),
        "candidates": (L("all_candidates"), "#9e9e9e", "--", 1.4),
    }
    for key, (name, colour, ls, lw) in styles.items():
        if key in table.columns:
            y = table[key].to_numpy() * 100
            at = float(np.interp(radius, table["distance_m"], y))
            ax.plot(table["distance_m"], y, color=colour, ls=ls, lw=lw, label=f"{name} ({at:.1f}% @ {radius:g} m)")
    ax.axvline(radius, color=TIER_COLOURS[1], lw=1, ls=":")
    ax.text(
        radius, 2, f" {L('radius_m')}: {radius:g}", color=TIER_COLOURS[1], fontsize=8, fontfamily=family, va="bottom"
    )
    ax.set_xlim(0, CURVE_MAX_M)
    ax.set_ylim(0, 101)
    ax.set_xlabel(L("walk_distance_m"), fontfamily=family)
    ax.set_ylabel(f"{L('households_share')} (%)", fontfamily=family)
    ax.set_title(f"{data.title} — {L('coverage_curve')}", fontfamily=family, fontsize=12)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", prop={"family": family, "size": 9})
    fig.tight_layout()
    return fig


def write_figures(
    data: MapData | object, folder: str | Path, lang: str | None = None, derived: Derived | None = None
) -> dict[str, Path]:
    """Write ``network.png``, ``coverage_curve.png`` and ``coverage_curve.csv`` into ``folder``.

    Parameters
    ----------
    data
        A :class:`MapData` or a :class:`~netplan.plan.Plan`.
    folder
        The output folder.
    lang
        ``zh`` or ``en`` (default: the scenario's).
    derived
        Already computed service areas and distances (see :func:`~netplan.render.layers.derive`).

    Returns
    -------
    dict
        ``network_png``, ``coverage_png``, ``coverage_csv`` -> paths.
    """
    if not isinstance(data, MapData):
        data = MapData.from_plan(data)
    lang = lang or data.lang
    derived = derived or derive(data)
    folder = Path(folder)
    table = coverage_table(data, derived)
    return {
        "network_png": _save(network_figure(data, derived, lang), folder / "network.png"),
        "coverage_png": _save(coverage_figure(data, table, lang), folder / "coverage_curve.png"),
        "coverage_csv": write_csv(folder / "coverage_curve.csv", table.round(6)),
    }
