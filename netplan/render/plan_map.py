"""The plan map: one HTML file (Folium / Leaflet) with a layer per tier.

Every layer is a single GeoJSON layer, not one marker per feature, so large
cities stay usable. Text is written as UTF-8 (Chinese stays readable in the
file), and every map credits "© OpenStreetMap contributors".
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element, MacroElement
from folium.template import Template

from netplan.io import write_with
from netplan.plan import Plan
from netplan.render.labels import TIER_COLOURS, label

# Folium's templates share one Jinja environment; without this every Chinese
# character in a GeoJSON layer would be written as a \uXXXX escape.
Template("").environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}


class _Attribution(MacroElement):
    """Adds a credit to the map's attribution control, with or without a basemap."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}"""
    )

    def __init__(self, text: str):
        super().__init__()
        self.text = text


def _features(frame: gpd.GeoDataFrame, columns: list[str], precision: int = 6) -> dict:
    """A GeoJSON FeatureCollection with only ``columns`` and rounded coordinates."""
    keep = [c for c in columns if c in frame.columns]
    sub = frame[keep + [frame.geometry.name]].copy()
    for col in keep:
        if sub[col].dtype.kind == "f":
            sub[col] = sub[col].round(1)
    # pointwise rounding only shortens the file; it must not try to repair (or choke on) invalid OSM polygons
    sub = sub.set_geometry(sub.geometry.set_precision(10 ** -precision, mode="pointwise"))
    return json.loads(sub.to_json(drop_id=True, na="null"))


def _panel(title: str, rows: list[tuple[str, str]], position: str) -> Element:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:right;padding-left:8px'>{html.escape(v)}</td></tr>" for k, v in rows)
    return Element(
        f"""<div class="netplan-panel" id="netplan-{html.escape(title)}" style="position:fixed;{position};z-index:9999;background:white;
        padding:6px 10px;border:1px solid #888;border-radius:4px;font:12px sans-serif;max-width:320px">
        <b>{html.escape(title)}</b><table>{body}</table></div>"""
    )


def _legend(lang: str, tiers: int) -> Element:
    items = "".join(
        f"<div><span style='display:inline-block;width:10px;height:10px;border-radius:5px;background:{TIER_COLOURS[t]};margin-right:4px'></span>{html.escape(label(lang, f'tier{t}'))}</div>"
        for t in range(1, tiers + 1)
    )
    items += f"<div><span style='display:inline-block;width:10px;height:10px;border-radius:5px;background:#c62828;margin-right:4px'></span>{html.escape(label(lang, 'demand'))}</div>"
    items += f"<div><span style='display:inline-block;width:10px;height:10px;border:2px solid black;border-radius:5px;margin-right:4px'></span>{html.escape(label(lang, 'existing'))}</div>"
    return Element(
        f"""<div class="netplan-legend" style="position:fixed;bottom:30px;left:10px;z-index:9999;background:white;
        padding:6px 10px;border:1px solid #888;border-radius:4px;font:12px sans-serif">
        <b>{html.escape(label(lang, 'legend'))}</b>{items}</div>"""
    )


def _kpi_rows(plan: Plan, lang: str) -> list[tuple[str, str]]:
    if plan.kpis is None:
        return []
    wanted = [
        ("demand", "points", "demand_points", "{:.0f}"),
        ("demand", "households", "total_households", "{:,.0f}"),
        ("demand", "kg_day", "total_kg_day", "{:,.0f}"),
        ("coverage", "existing_households_share", "coverage_existing", "{:.1%}"),
        ("coverage", "potential_households_share", "coverage_potential", "{:.1%}"),
        ("city", "drive_km", "drive_km", "{:,.1f}"),
        ("city", "walk_km", "walk_km", "{:,.1f}"),
    ]
    wanted[3:3] = [
        ("network", "households_covered_share", "network_coverage", "{:.1%}"),
        ("network", "tier1_open", "facilities_t1", "{:.0f}"),
        ("network", "tier2_open", "facilities_t2", "{:.0f}"),
        ("network", "tier3_open", "facilities_t3", "{:.0f}"),
        ("network", "tier4_open", "facilities_t4", "{:.0f}"),
        ("cost", "total", "total_cost", "{:,.0f}"),
        ("locate_integrated", "gap", "gap", "{:.2%}"),
    ]
    rows = []
    for section, key, name, fmt in wanted:
        try:
            rows.append((label(lang, name), fmt.format(float(plan.kpi(section, key)))))
        except KeyError:
            continue
    return rows


def plan_map(plan: Plan, lang: str | None = None) -> folium.Map:
    """Build the plan map.

    Parameters
    ----------
    plan
        The plan (city, demand, sites, KPIs).
    lang
        ``"zh"`` or ``"en"``; defaults to the scenario's language.

    Returns
    -------
    folium.Map
        The map, ready to save.
    """
    lang = lang or plan.scenario.lang
    demand = plan.demand
    centre = demand.geometry.union_all().centroid if len(demand) else plan.city.extent().centroid
    fmap = folium.Map(location=[centre.y, centre.x], zoom_start=14, control_scale=True, tiles=None)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=label(lang, "credit")).add_to(fmap)
    fmap.add_child(_Attribution(label(lang, "credit")))

    roads = plan.city.drive.edges().to_crs("EPSG:4326")
    roads_group = folium.FeatureGroup(name=label(lang, "roads"), show=False)
    folium.GeoJson(
        _features(roads.reset_index(drop=True), ["name"], precision=5),
        style_function=lambda _: {"color": "#607d8b", "weight": 1.5, "opacity": 0.7},
    ).add_to(roads_group)
    roads_group.add_to(fmap)

    if plan.demand_areas is not None and len(plan.demand_areas):
        areas = plan.demand_areas.copy()
        areas["name"] = areas["name"].fillna(label(lang, "unnamed"))
        group = folium.FeatureGroup(name=label(lang, "compounds"))
        folium.GeoJson(
            _features(areas, ["name", "households"]),
            style_function=lambda _: {"color": "#c62828", "weight": 1, "fillOpacity": 0.08},
            tooltip=folium.GeoJsonTooltip(["name", "households"], aliases=[label(lang, "name"), label(lang, "households")]),
        ).add_to(group)
        group.add_to(fmap)

    pts = demand.copy()
    pts["name"] = pts["name"].fillna(label(lang, "unnamed"))
    pts["radius"] = np.clip(np.sqrt(pts["households"].to_numpy()) / 3, 2, 14)
    group = folium.FeatureGroup(name=label(lang, "demand"))
    folium.GeoJson(
        _features(pts, ["name", "households", "kg_day", "method", "snap_m", "snap_ok", "radius"]),
        marker=folium.CircleMarker(radius=4, fill=True),
        style_function=lambda f: {
            "radius": f["properties"]["radius"],
            "color": "#c62828" if f["properties"]["snap_ok"] else "#000000",
            "fillColor": "#ef5350",
            "fillOpacity": 0.6,
            "weight": 1,
        },
        tooltip=folium.GeoJsonTooltip(
            ["name", "households", "kg_day", "method", "snap_m"],
            aliases=[label(lang, k) for k in ("name", "households", "kg_day", "method", "snap_m")],
        ),
    ).add_to(group)
    group.add_to(fmap)

    sites = plan.sites
    for tier in plan.scenario.tiers:
        t = tier.tier
        sub = sites[sites[f"tier{t}"]].copy()
        if sub.empty:
            continue
        sub["name"] = sub["name"].fillna(label(lang, "unnamed"))
        colour = TIER_COLOURS[t]
        name = f"{label(lang, f'tier{t}')} ({label(lang, 'candidates')} {int((~sub['existing']).sum())} / {label(lang, 'existing')} {int(sub['existing'].sum())})"
        group = folium.FeatureGroup(name=name, show=plan.facilities is None and (t > 1 or len(sub) < 1500))
        folium.GeoJson(
            _features(sub, ["site_id", "name", "source", "status", "tiers", "existing"]),
            marker=folium.CircleMarker(radius=4, fill=True),
            style_function=lambda f, colour=colour, t=t: {
                "radius": 3 + t,
                "color": "#000000" if f["properties"]["existing"] else colour,
                "weight": 2.5 if f["properties"]["existing"] else 1,
                "fillColor": colour,
                "fillOpacity": 0.8,
            },
            tooltip=folium.GeoJsonTooltip(
                ["name", "source", "status", "tiers"],
                aliases=[label(lang, k) for k in ("name", "source", "status", "tiers")],
            ),
        ).add_to(group)
        group.add_to(fmap)

    if plan.facilities is not None and len(plan.facilities):
        _network_layers(fmap, plan, lang)

    folium.LayerControl(collapsed=False).add_to(fmap)
    title = plan.scenario.title or plan.scenario.name
    fmap.get_root().html.add_child(_legend(lang, len(plan.scenario.tiers)))
    fmap.get_root().html.add_child(_panel(f"{title} — {label(lang, 'kpis')}", _kpi_rows(plan, lang), "top:10px;left:60px"))
    bounds = demand.total_bounds if len(demand) else None
    if bounds is not None and np.isfinite(bounds).all():
        fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return fmap


def _network_layers(fmap: folium.Map, plan: Plan, lang: str) -> None:
    """Sited facilities per tier, assignment lines, and demand left uncovered."""
    assignments = plan.assignments
    if assignments is not None and len(assignments):
        group = folium.FeatureGroup(name=label(lang, "assignments"))
        lines = assignments.copy()
        folium.GeoJson(
            _features(lines, ["level", "kg_day", "distance_m", "to_tier"]),
            style_function=lambda f: {
                "color": TIER_COLOURS.get(f["properties"]["to_tier"], "#555"),
                "weight": 1 if f["properties"]["to_tier"] == 1 else 2.5,
                "opacity": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(["level", "kg_day", "distance_m"], aliases=["", label(lang, "kg_day"), label(lang, "distance_m")]),
        ).add_to(group)
        group.add_to(fmap)
    facilities = plan.facilities.copy()
    facilities["name"] = facilities["name"].fillna(label(lang, "unnamed"))
    facilities["utilisation"] = (facilities["utilisation"] * 100).round(1)
    for tier in plan.scenario.tiers:
        t = tier.tier
        sub = facilities[facilities["tier"] == t]
        if sub.empty:
            continue
        colour = TIER_COLOURS[t]
        name = f"{label(lang, f'tier{t}')} — {label(lang, 'open')} {len(sub)} ({label(lang, 'new')} {int((~sub['existing']).sum())})"
        group = folium.FeatureGroup(name=name)
        fields = ["name", "site_id", "status", "load_kg_day", "capacity_kg_day", "utilisation"]
        folium.GeoJson(
            _features(sub, fields + ["existing", "fusion"]),
            marker=folium.CircleMarker(radius=6, fill=True),
            style_function=lambda f, colour=colour, t=t: {
                "radius": 4 + 3 * t,
                "color": "#000000" if f["properties"]["existing"] else "#ffffff",
                "weight": 3 if f["properties"]["existing"] else 1.5,
                "fillColor": colour,
                "fillOpacity": 0.95,
            },
            tooltip=folium.GeoJsonTooltip(fields, aliases=[label(lang, k) for k in ("name", "site_id", "status", "load_kg_day", "capacity_kg_day", "utilisation")]),
        ).add_to(group)
        group.add_to(fmap)
    excluded = plan.demand[plan.demand["demand_id"].isin(plan.excluded_demand) | ~plan.demand["snap_ok"]]
    if len(excluded):
        group = folium.FeatureGroup(name=f"{label(lang, 'uncovered')} ({len(excluded)})")
        folium.GeoJson(
            _features(excluded.assign(name=excluded["name"].fillna(label(lang, "unnamed"))), ["name", "households"]),
            marker=folium.CircleMarker(radius=9, fill=False),
            style_function=lambda _: {"color": "#000000", "weight": 3, "dashArray": "4"},
            tooltip=folium.GeoJsonTooltip(["name", "households"], aliases=[label(lang, "name"), label(lang, "households")]),
        ).add_to(group)
        group.add_to(fmap)


def write_plan_map(plan: Plan, path: str | Path, lang: str | None = None) -> Path:
    """Render the plan map and write it atomically as one HTML file.

    Parameters
    ----------
    plan
        The plan.
    path
        Destination ``.html``.
    lang
        ``"zh"`` or ``"en"`` (scenario default).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    fmap = plan_map(plan, lang)
    return write_with(path, lambda tmp: fmap.save(str(tmp)))
