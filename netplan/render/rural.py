"""The rural streams map (``rural_map.html``): farmland, straw centres, the harvest day and the pesticide round.

A folium map next to the plan map: field blocks coloured by the straw centre they send to (grey when
beyond the maximum haul), straw storage centres sized by straw with their harvest-window plan in the
popup, village collection points and the county storage and transfer station, and the routed harvest
day and pesticide-packaging round. Labels are Chinese or English; the map credits OpenStreetMap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
import geopandas as gpd

from netplan.io import write_with

_PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4"]

LABELS = {
    "zh": {
        "farmland": "农田地块",
        "centres": "秸秆收储中心",
        "points": "村级回收点",
        "station": "县级集中收贮转运站",
        "straw_day": "秸秆收运（典型日）",
        "pesticide": "农药包装废弃物收运",
        "straw": "秸秆 t/季",
        "area": "面积 ha",
        "pesticide_kg": "农药包装 kg/年",
        "film": "农膜 kg/年",
        "utilisation": "利用率",
        "fleet": "车辆",
        "trips": "趟次",
        "vehicle_days": "车日",
        "balers": "打捆机",
        "not_collected": "超出运距，未收储",
        "load": "载重 kg",
        "km": "公里",
    },
    "en": {
        "farmland": "Farmland blocks",
        "centres": "Straw storage centres",
        "points": "Village collection points",
        "station": "County storage and transfer station",
        "straw_day": "Straw haul (typical day)",
        "pesticide": "Pesticide-packaging round",
        "straw": "straw t/season",
        "area": "area ha",
        "pesticide_kg": "pesticide packaging kg/yr",
        "film": "film kg/yr",
        "utilisation": "utilisation",
        "fleet": "vehicles",
        "trips": "trips",
        "vehicle_days": "vehicle-days",
        "balers": "balers",
        "not_collected": "beyond the haul limit, not collected",
        "load": "load kg",
        "km": "km",
    },
}
"""Map labels by language."""

_ATTRIBUTION = "© OpenStreetMap contributors"


def _colour(centre: float | None, order: dict[int, int]) -> str:
    """A centre's colour; grey for a block no centre serves (a null centre)."""
    if centre is None or centre != centre or int(centre) not in order:
        return "#9e9e9e"
    return _PALETTE[order[int(centre)] % len(_PALETTE)]


def rural_map(plan: Any, lang: str | None = None) -> folium.Map:
    """Build the rural streams map of a plan with ``plan.rural``.

    Parameters
    ----------
    plan
        A :class:`~netplan.plan.Plan` of a rural scenario.
    lang
        ``"zh"`` or ``"en"`` (default: the scenario's).

    Returns
    -------
    folium.Map
        The map.
    """
    lang = lang or plan.scenario.lang
    L = LABELS.get(lang, LABELS["en"])
    rural = plan.rural
    blocks: gpd.GeoDataFrame = rural.blocks
    centres: gpd.GeoDataFrame = rural.straw_centres
    parts = [f.total_bounds for f in (blocks, plan.demand, plan.facilities) if f is not None and len(f)]
    extent = [min(b[0] for b in parts), min(b[1] for b in parts), max(b[2] for b in parts), max(b[3] for b in parts)]
    fmap = folium.Map(tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", attr=_ATTRIBUTION, name="OpenStreetMap").add_to(fmap)
    fmap.fit_bounds([[extent[1], extent[0]], [extent[3], extent[2]]])
    order = {int(c): i for i, c in enumerate(sorted(centres["site_id"].astype(int)))} if len(centres) else {}

    if len(blocks):
        shown = blocks[["block_id", "area_ha", "straw_t", "pesticide_kg_yr", "film_kg_yr", "centre", "geometry"]].copy()
        shown[["area_ha", "straw_t", "pesticide_kg_yr", "film_kg_yr"]] = shown[
            ["area_ha", "straw_t", "pesticide_kg_yr", "film_kg_yr"]
        ].round(1)
        folium.GeoJson(
            shown,
            name=L["farmland"],
            style_function=lambda f: {
                "color": _colour(f["properties"]["centre"], order),
                "weight": 1,
                "fillOpacity": 0.45,
            },
            tooltip=folium.GeoJsonTooltip(
                ["block_id", "area_ha", "straw_t", "pesticide_kg_yr", "film_kg_yr"],
                aliases=["#", L["area"], L["straw"], L["pesticide_kg"], L["film"]],
            ),
        ).add_to(fmap)

    group = folium.FeatureGroup(name=L["centres"]).add_to(fmap)
    harvest = rural.harvest.set_index("centre") if len(rural.harvest) else None
    for _, c in centres.iterrows():
        sid = int(c["site_id"])
        lines = [
            f"<b>{c['name']}</b>",
            f"{L['straw']}: {c['straw_t']:.0f} / {c['capacity_t']:.0f}",
            f"{L['utilisation']}: {c['utilisation']:.0%}",
        ]
        if harvest is not None and sid in harvest.index:
            h = harvest.loc[sid]
            lines += [
                f"{L['trips']}: {int(h['trips'])}",
                f"{L['vehicle_days']}: {h['vehicle_days']:.1f}",
                f"{L['fleet']}: {int(h['fleet'])}",
                f"{L['balers']}: {int(h['balers'])}",
            ]
        folium.CircleMarker(
            [c.geometry.y, c.geometry.x],
            radius=6 + 10 * min(float(c["utilisation"]), 1.0),
            color="#000",
            weight=2,
            fill=True,
            fill_color=_colour(sid, order),
            fill_opacity=0.9,
            tooltip=str(c["name"]),
            popup=folium.Popup("<br>".join(lines), max_width=260),
        ).add_to(group)

    fac = plan.facilities
    if fac is not None:
        points = folium.FeatureGroup(name=L["points"]).add_to(fmap)
        for _, p in fac[fac["tier"] == 1].iterrows():
            folium.CircleMarker(
                [p.geometry.y, p.geometry.x],
                radius=4,
                color="#2c7fb8",
                fill=True,
                fill_opacity=1,
                tooltip=f"{L['points']} {int(p['site_id'])}",
            ).add_to(points)
        top = min(3, int(fac["tier"].max()))
        for _, s in fac[fac["tier"] == top].iterrows():
            # plain vector markers only: no icon plugin to fetch
            folium.CircleMarker(
                [s.geometry.y, s.geometry.x],
                radius=11,
                color="#000",
                weight=3,
                fill=True,
                fill_color="#e31a1c",
                fill_opacity=1,
                tooltip=f"{L['station']} {int(s['site_id'])}",
            ).add_to(points)

    routes = rural.routes
    for stream, key, colour in (("straw", "straw_day", "#8c510a"), ("pesticide", "pesticide", "#c51b7d")):
        mine = routes[routes["stream"] == stream] if len(routes) else routes
        if not len(mine):
            continue
        layer = folium.FeatureGroup(name=L[key], show=stream == "pesticide").add_to(fmap)
        for _, r in mine.iterrows():
            folium.PolyLine(
                [(y, x) for x, y in r.geometry.coords],
                color=colour,
                weight=3,
                opacity=0.7,
                tooltip=f"{r['vehicle']} #{int(r['trip'])}: {L['load']} {r['load_kg']:.0f}, {r['km']:.1f} {L['km']}",
            ).add_to(layer)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def write_rural_map(plan: Any, path: str | Path, lang: str | None = None) -> Path:
    """Write :func:`rural_map` atomically as one HTML file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    fmap = rural_map(plan, lang)
    return write_with(Path(path), lambda tmp: fmap.save(str(tmp)))
