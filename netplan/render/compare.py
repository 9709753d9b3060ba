"""Comparison pages: two or more plans side by side (``netplan compare``).

Reads each run's output folder (GeoPackage, ``kpis.csv``, ``manifest.json``);
nothing is re-solved. The page shows one :class:`folium.Map` per plan in a
grid; the maps pan, zoom and switch layers together. Beside them: the legend,
a KPI table with one column per plan and the differences from the first
(B − A, C − A, ...), and each run's warnings. Each map has a layer of the facilities it has and the other
plan lacks (A is compared with B, every other plan with A), and of those it
lacks: same tier within 10 m counts as the same facility.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netplan.errors import NetplanError
from netplan.render import analysis as an
from netplan.render.basemaps import basemap as make_basemap
from netplan.render.basemaps import tianditu_token
from netplan.render.data import MapData
from netplan.render.kpis import compare_html, compare_warnings_html
from netplan.render.labels import label, tier_name
from netplan.render.layers import Context, bounds, derive, facility_layer, facility_props, legend_html, plan_layers
from netplan.render.page import NetplanLayers, NetplanMap, NetplanPage
from netplan.render.plan_map import page_config

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _union_bounds(boxes: list[list[list[float]] | None]) -> list[list[float]] | None:
    found = [b for b in boxes if b]
    if not found:
        return None
    return [
        [min(b[0][0] for b in found), min(b[0][1] for b in found)],
        [max(b[1][0] for b in found), max(b[1][1] for b in found)],
    ]


def _diff_layers(here, there, tiers: list[int], ctx: Context, other: str) -> list[dict]:
    """Facilities only in this plan (badge +) and only in the other one (hollow, badge −), per tier."""
    out = []
    for t in tiers:
        for frame, key, text, icon, badge in (
            (here, "diffadd", ctx.L("only_here"), None, "+"),
            (there, "diffdel", ctx.L("only_in").format(other), "{t}-x", "-"),
        ):
            sub = frame[frame["tier"] == t]
            if sub.empty:
                continue
            name = f"{text} · {tier_name(ctx.lang, t)}"
            spec = facility_layer(sub, t, ctx, f"{key}{t}", f"{name} ({len(sub)})", icon=icon, badge=badge)
            spec["z"] = 95 + t
            spec["popup"]["subtitle"] = spec["tooltip"]["subtitle"] = name
            out.append(spec)
    return out


def _grid(n: int) -> tuple[int, int]:
    cols = 2 if n in (2, 4) else 3 if n != 1 else 1
    return cols, -(-n // cols)


def compare_map(
    folders: Sequence[str | Path],
    lang: str | None = None,
    basemap: str = "osm",
    offline: bool = False,
    tianditu_token_: str | None = None,
) -> NetplanPage:
    """Build the comparison page of two or more run output folders.

    Parameters
    ----------
    folders
        Output folders of ``netplan run`` (A, B, C, ...).
    lang
        ``"zh"`` or ``"en"`` (default: plan A's scenario language).
    basemap
        ``osm``, ``amap``, ``tianditu`` or ``none`` (as for the plan map).
    offline
        Request nothing from the network (forces ``basemap="none"``).
    tianditu_token_
        Token for Tianditu tiles (else ``TIANDITU_TOKEN``).

    Returns
    -------
    NetplanPage
        The page (a branca :class:`~branca.element.Figure` holding one
        :class:`folium.Map` per plan, ``.maps``); ``.save(path)`` writes it,
        a notebook shows it inline.
    """
    if len(folders) < 2:
        raise NetplanError("compare needs at least two output folders")
    if len(folders) > len(LETTERS):
        raise NetplanError(f"compare takes at most {len(LETTERS)} output folders")
    offline = bool(offline)
    plans = [MapData.from_folder(f) for f in folders]
    lang = lang or plans[0].lang
    L = lambda key: label(lang, key)  # noqa: E731
    ctx = Context(lang, make_basemap("none" if offline else basemap, lang, offline, tianditu_token(tianditu_token_)))
    no_tiles = ctx.basemap.key == "none"
    tiers = list(range(1, max(len(p.tiers) for p in plans) + 1))
    fac = []
    for p in plans:
        fac.append(facility_props(p, ctx) if p.facilities is not None and len(p.facilities) else None)

    panels: list[dict[str, Any]] = []
    has: set[str] = set()
    boxes: list[list[list[float]] | None] = []
    only_counts: list[dict[int, int]] = []
    for i, p in enumerate(plans):
        layers, used = plan_layers(p, ctx, derive(p), show_roads=no_tiles, streets=no_tiles)
        has |= used
        other = 1 if i == 0 else 0
        counts: dict[int, int] = {}
        fac_here, fac_there = fac[i], fac[other]
        if fac_here is not None and fac_there is not None:
            mine, theirs = an.facility_diff(fac_here, fac_there)
            here, there = fac_here[mine], fac_there[theirs]
            counts = {t: int((here["tier"] == t).sum()) for t in tiers}
            diff_layers = _diff_layers(here, there, tiers, ctx, LETTERS[other])
            pos = next((k for k, s in enumerate(layers) if s["group"] != "network"), len(layers))
            layers[pos:pos] = diff_layers
        only_counts.append(counts)
        boxes.append(bounds(p, ctx))
        panels.append({"layers": layers, "bounds": None})
    box = _union_bounds(boxes)
    for panel in panels:
        panel["bounds"] = box

    names = [f"{p.title}" + (f" ({p.source.name})" if p.source is not None else "") for p in plans]
    extra = []
    for t in tiers:
        values = [float(c[t]) if t in c else None for c in only_counts]
        if any(v is not None for v in values):
            extra.append((f"{tier_name(lang, t)} · {L('only_here')}", values))
    table = compare_html([(n, p.kpis) for n, p in zip(names, plans)], tiers, lang, extra)
    warnings = compare_warnings_html([(n, p.warnings) for n, p in zip(names, plans)], lang)
    cols, rows = _grid(len(plans))
    title = f"{L('compare_title')}: " + " / ".join(f"{LETTERS[i]} {p.title}" for i, p in enumerate(plans))
    side = 420 if len(plans) == 2 else min(420 + 110 * (len(plans) - 2), 760)
    before = (
        "<style>@media (min-width: 1001px) { body.np-compare { grid-template-columns: minmax(0, 1fr) "
        f"{side}px; }} }}</style>"
        f"<div class='np-header'>{html.escape(L('compare_title'))}"
        f"<small>{html.escape(' · '.join(LETTERS[i] + ' ' + p.name for i, p in enumerate(plans)))}</small></div>"
    )
    legend = legend_html(ctx, tiers, has, diff=True)
    after = f"<div class='np-side'>{legend}<b>{html.escape(L('kpis'))}</b>{table}{warnings}</div>"
    grid = f"grid-template-columns:repeat({cols},minmax(0,1fr));grid-template-rows:repeat({rows},minmax(0,1fr))"
    page = NetplanPage(title, lang, "np-compare", before=before, after=after, grid_style=grid)
    config = page_config(ctx, tiers, panels, offline, collapsed=True)
    page.maps = []
    for i, p in enumerate(plans):
        caption = (
            f"{LETTERS[i]} · {html.escape(p.title)}"
            f"<small>{html.escape(p.source.name if p.source is not None else '')}</small>"
        )
        m = NetplanMap(f"np{i}", caption=caption)
        page.add_child(m, name=f"map{i}")
        m.add_child(NetplanLayers(config, i), name="netplan_layers")
        page.maps.append(m)
    return page


def write_compare_map(
    folders: Sequence[str | Path],
    path: str | Path,
    lang: str | None = None,
    basemap: str = "osm",
    offline: bool = False,
    tianditu_token_: str | None = None,
) -> Path:
    """Build the comparison page (see :func:`compare_map`) and write it atomically."""
    return compare_map(folders, lang=lang, basemap=basemap, offline=offline, tianditu_token_=tianditu_token_).save(path)
