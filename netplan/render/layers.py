"""Map layers as compact JSON for the page's script (``assets/netplan-map.js``).

Every layer becomes one Leaflet GeoJSON layer in the browser. Point layers
and two-point lines are sent column by column (``{"enc": "points", "xy":
[...], "p": {column: [...]}}``) and turned into a GeoJSON FeatureCollection
by the script: 10,000 demand points take about 0.6 MB instead of 2.5 MB.
Polygons and longer lines are sent as GeoJSON. Coordinates are rounded
(6 decimals for points, about 0.1 m; 5 for roads and areas, about 1 m) and,
on a GCJ-02 basemap, shifted there first.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan.render import analysis as an
from netplan.render.basemaps import Basemap
from netplan.render.data import MapData
from netplan.render.labels import (
    DEMAND_COLOUR,
    LABELS,
    RESTRICTED_COLOUR,
    TIER_COLOURS,
    TIER_SHAPES,
    label,
    status_label,
    tier_name,
)

Shift = Callable[[np.ndarray], np.ndarray] | None
ROUTE_COLOURS = [
    "#d81b60",
    "#8e24aa",
    "#3949ab",
    "#00897b",
    "#f4511e",
    "#6d4c41",
    "#546e7a",
    "#c0ca33",
    "#00acc1",
    "#5e35b1",
]
ICON_SIZES = {1: 14, 2: 20, 3: 24, 4: 28}
MAX_MARKERS = 3000
"""Above this many facilities of one tier, they are drawn as circles on the canvas instead of icons."""


@dataclass
class Context:
    """What every layer of a page shares: language and basemap."""

    lang: str
    basemap: Basemap

    @property
    def shift(self) -> Shift:
        return self.basemap.shift

    def L(self, key: str) -> str:
        return label(self.lang, key)


# --------------------------------------------------------------------------- encoding


def _column(series: pd.Series, digits: int = 1) -> list:
    """One property column as a JSON-ready list (NaN -> null, floats rounded)."""
    kind = series.dtype.kind
    if kind == "b":
        return series.astype(bool).tolist()
    if kind in "iu":
        return series.astype(np.int64).tolist()
    if kind == "f":
        values = np.round(series.to_numpy(float), digits)
        out = values.tolist()
        if digits == 0:
            out = [int(v) if v == v and abs(v) != np.inf else None for v in values]
        else:
            out = [v if v == v and abs(v) != np.inf else None for v in out]
        return out
    return [
        None
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA
        else (bool(v) if isinstance(v, (bool, np.bool_)) else str(v))
        for v in series.tolist()
    ]


def _props(frame: pd.DataFrame, columns: dict[str, int]) -> dict[str, list]:
    return {col: _column(frame[col], digits) for col, digits in columns.items() if col in frame.columns}


def _xy(geoms: np.ndarray, shift: Shift, digits: int) -> np.ndarray:
    xy = shapely.get_coordinates(geoms)
    if shift is not None and len(xy):
        xy = shift(xy)
    return np.round(xy, digits)


def encode_points(frame: gpd.GeoDataFrame, columns: dict[str, int], shift: Shift, digits: int = 6) -> dict:
    """Points column by column (polygons are represented by an interior point)."""
    geoms = frame.geometry.to_numpy()
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    return {"enc": "points", "xy": _xy(geoms, shift, digits).ravel().tolist(), "p": _props(frame, columns)}


def encode_lines(frame: gpd.GeoDataFrame, columns: dict[str, int], shift: Shift, digits: int = 6) -> dict:
    """Lines: two-point lines column by column, anything else as GeoJSON."""
    geoms = frame.geometry.to_numpy()
    if len(geoms) and (shapely.get_type_id(geoms) == 1).all() and (shapely.get_num_coordinates(geoms) == 2).all():
        return {"enc": "segments", "xy": _xy(geoms, shift, digits).ravel().tolist(), "p": _props(frame, columns)}
    return encode_geojson(frame, columns, shift, digits)


def shift_geometries(geoms: np.ndarray, shift: Shift, digits: int) -> np.ndarray:
    """Shift (if needed) and round every coordinate of an array of geometries."""
    if shift is not None:
        geoms = shapely.transform(geoms, shift)
    return shapely.transform(geoms, lambda c: np.round(c, digits))


def encode_geojson(frame: gpd.GeoDataFrame, columns: dict[str, int], shift: Shift, digits: int = 5) -> dict:
    """A GeoJSON FeatureCollection with ``columns`` as properties."""
    geoms = shift_geometries(frame.geometry.to_numpy(), shift, digits)
    props = _props(frame, columns)
    names = list(props)
    features = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {"type": "Feature", "properties": {k: props[k][i] for k in names}, "geometry": geom.__geo_interface__}
        )
    return {"type": "FeatureCollection", "features": features}


def to_json(data: Any) -> str:
    """Compact UTF-8 JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


# --------------------------------------------------------------------------- icons and legend


def _shape_svg(shape: str, size: int, fill: str, stroke: str, width: float, dash: str = "") -> str:
    h = size / 2
    pad = width / 2 + 0.5
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    style = f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{extra}'
    if shape == "circle":
        body = f'<circle cx="{h}" cy="{h}" r="{h - pad:.2f}" {style}/>'
    elif shape == "square":
        body = (
            f'<rect x="{pad:.2f}" y="{pad:.2f}" width="{size - 2 * pad:.2f}" height="{size - 2 * pad:.2f}" '
            f'rx="1.5" {style}/>'
        )
    elif shape == "diamond":
        body = f'<polygon points="{h},{pad:.2f} {size - pad:.2f},{h} {h},{size - pad:.2f} {pad:.2f},{h}" {style}/>'
    else:
        pts = []
        for k in range(10):
            r = (h - pad) if k % 2 == 0 else (h - pad) * 0.45
            a = -np.pi / 2 + k * np.pi / 5
            pts.append(f"{h + r * np.cos(a):.2f},{h + 0.06 * size + r * np.sin(a):.2f}")
        body = f'<polygon points="{" ".join(pts)}" {style}/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}">{body}</svg>'
    )


def icon_svg(tier: int, existing: bool, hollow: bool = False, size: int | None = None) -> str:
    """The marker of a facility: shape and colour by tier, black ring if existing, white ring if new."""
    size = size or ICON_SIZES[tier]
    colour = TIER_COLOURS[tier]
    if hollow:
        return _shape_svg(TIER_SHAPES[tier], size, "#ffffff", colour, 2.5, "3 2")
    if existing:
        return _shape_svg(TIER_SHAPES[tier], size, colour, "#111111", 3.0)
    return _shape_svg(TIER_SHAPES[tier], size, colour, "#ffffff", 1.8)


def icon_table(tiers: list[int]) -> dict[str, str]:
    """Every icon the pages use, keyed ``"<tier>-e"`` (existing), ``"-n"`` (new), ``"-x"`` (absent here)."""
    out = {}
    for t in tiers:
        out[f"{t}-e"] = icon_svg(t, True)
        out[f"{t}-n"] = icon_svg(t, False)
        out[f"{t}-x"] = icon_svg(t, False, hollow=True)
    return out


def _swatch(kind: str, colour: str, fill: str | None = None, dash: str = "", width: float = 2) -> str:
    if kind == "line":
        return (
            f'<svg width="22" height="12"><line x1="1" y1="6" x2="21" y2="6" stroke="{colour}" '
            f'stroke-width="{width}" stroke-dasharray="{dash}"/></svg>'
        )
    if kind == "area":
        return (
            f'<svg width="22" height="14"><rect x="1" y="1" width="20" height="12" fill="{fill or colour}" '
            f'fill-opacity="0.25" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/></svg>'
        )
    return (
        f'<svg width="22" height="14"><circle cx="11" cy="7" r="5" fill="{fill or "none"}" fill-opacity="0.7" '
        f'stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/></svg>'
    )


def legend_html(ctx: Context, tiers: list[int], has: set[str], diff: bool = False) -> str:
    """The legend: facility icons per tier, then the other layers present."""
    L = ctx.L
    rows = [
        f"<div class='np-lg-row'>{icon_svg(t, False, size=16)}<span>{html.escape(tier_name(ctx.lang, t))}</span></div>"
        for t in tiers
    ]
    rows.append(
        f"<div class='np-lg-row'>{icon_svg(tiers[0], True, size=16)}"
        f"<span>{html.escape(L('existing_kept'))}</span></div>"
    )
    rows.append(
        f"<div class='np-lg-row'>{icon_svg(tiers[0], False, size=16)}"
        f"<span>{html.escape(L('new_facility'))}</span></div>"
    )
    if diff:
        rows.append(
            f"<div class='np-lg-row'><span class='np-badge np-badge-add'>+</span>"
            f"<span>{html.escape(L('diff_added'))}</span></div>"
        )
        rows.append(
            f"<div class='np-lg-row'>{icon_svg(tiers[0], False, hollow=True, size=16)}"
            f"<span class='np-badge np-badge-del'>−</span>"
            f"<span>{html.escape(L('diff_removed').format('A'))}</span></div>"
        )
    extra = [
        ("demand", _swatch("dot", DEMAND_COLOUR, "#ef5350", width=1), L("demand")),
        ("uncovered", _swatch("dot", "#000000", None, "3 2", 2), L("uncovered")),
        ("service", _swatch("area", TIER_COLOURS[1]), L("service_area")),
        ("catchment", _swatch("area", TIER_COLOURS[2], "none", "5 3"), L("catchment_generic")),
        ("assign", _swatch("line", TIER_COLOURS[2], width=3), L("assignments")),
        ("routes", _swatch("line", ROUTE_COLOURS[0], width=3), L("routes")),
        ("restricted", _swatch("area", RESTRICTED_COLOUR, None, "6 3"), L("restricted")),
        ("roads", _swatch("line", "#78909c", width=2), L("roads")),
    ]
    for key, swatch, text in extra:
        if key in has:
            rows.append(f"<div class='np-lg-row'>{swatch}<span>{html.escape(text)}</span></div>")
    return f"<div class='np-legend'><b>{html.escape(L('legend'))}</b>{''.join(rows)}</div>"


# --------------------------------------------------------------------------- one plan's layers


def _road_class(highway: Any) -> str:
    text = str(highway or "")
    first = re.findall(r"[a-z_]+", text)
    kind = first[0] if first else ""
    return "major" if kind.replace("_link", "") in ("motorway", "trunk", "primary", "secondary") else "minor"


def _dedupe_edges(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One edge per node pair (both directions of a two-way street draw the same line)."""
    if not {"u", "v"} <= set(edges.columns):
        return edges
    a = np.minimum(edges["u"].to_numpy(), edges["v"].to_numpy())
    b = np.maximum(edges["u"].to_numpy(), edges["v"].to_numpy())
    keep = ~pd.DataFrame({"a": a, "b": b}).duplicated().to_numpy()
    return edges[keep]


def _base_lines(ctx: Context, layer_id: str, frame: gpd.GeoDataFrame, show: bool, z: int, **spec: Any) -> dict:
    """A context layer of plain lines (classed by ``cls``) on the base pane, under everything and not clickable."""
    return {
        "id": layer_id,
        "group": "context",
        "name": ctx.L(layer_id),
        "show": show,
        "kind": "lines",
        "pane": "base",
        "interactive": False,
        "z": z,
        "data": encode_geojson(frame, {"cls": 0}, ctx.shift, 5),
        **spec,
    }


def road_layers(data: MapData, ctx: Context, show: bool, streets: bool) -> list[dict]:
    """The truck roads (by class) and, without a basemap, every walkable street, as plain lines."""
    out = []
    if streets and data.walkways is not None and len(data.walkways):
        walk = _dedupe_edges(data.walkways)
        merged = shapely.multilinestrings(shapely.simplify(walk.geometry.to_numpy(), 1.5e-5))
        frame = gpd.GeoDataFrame({"cls": ["walk"]}, geometry=[merged], crs="EPSG:4326")
        out.append(
            _base_lines(ctx, "streets", frame, True, 0, style={"color": "#b0bec5", "weight": 0.8, "opacity": 0.9})
        )
    if data.roads is not None and len(data.roads):
        roads = _dedupe_edges(data.roads)
        cls = roads["highway"].map(_road_class) if "highway" in roads.columns else pd.Series("minor", index=roads.index)
        geoms, names = [], []
        for kind in ("minor", "major"):
            sub = roads.geometry[cls == kind].to_numpy()
            if len(sub):
                geoms.append(shapely.multilinestrings(shapely.simplify(sub, 1.5e-5)))
                names.append(kind)
        frame = gpd.GeoDataFrame({"cls": names}, geometry=geoms, crs="EPSG:4326")
        out.append(
            _base_lines(
                ctx,
                "roads",
                frame,
                show,
                1,
                style={"color": "#78909c", "weight": 1.3, "opacity": 0.85},
                by=[{"prop": "cls", "map": {"major": {"weight": 2.6, "color": "#607d8b"}}}],
            )
        )
    return out


def _area_style(colour: str, *, weight: float, opacity: float, fill_opacity: float, dash: str | None = None) -> dict:
    """The style of an area layer: an outline and a fill of the same colour, the outline optionally dashed."""
    style: dict[str, object] = {"color": colour, "weight": weight, "opacity": opacity}
    if dash is not None:
        style["dashArray"] = dash
    return {**style, "fillColor": colour, "fillOpacity": fill_opacity}


@dataclass
class Derived:
    """Geometry and figures computed for a plan's map (see :mod:`netplan.render.analysis`)."""

    graph: an.WalkGraph | None
    nearest: np.ndarray
    uncovered: np.ndarray
    service: gpd.GeoDataFrame | None
    catchments: dict[int, gpd.GeoDataFrame]
    sited: bool


def derive(data: MapData) -> Derived:
    """Walk graph, distances, uncovered demand, service areas and catchments of a plan."""
    graph = an.WalkGraph(data.walkways) if data.walkways is not None and len(data.walkways) else None
    radius = data.tier(1).radius_m
    fac = data.facilities
    sited = fac is not None and len(fac) > 0
    points: gpd.GeoDataFrame | None
    if fac is not None and sited:
        points = fac[fac["tier"] == 1]
    elif data.sites is not None:
        points = data.sites[data.sites["tier1"].astype(bool) & data.sites["existing"].astype(bool)]
    else:
        points = None
    limit = max(1500.0, radius)
    nearest = (
        an.nearest_distance(graph, data.demand, points, limit)
        if points is not None
        else np.full(len(data.demand), np.inf)
    )
    uncovered = an.uncovered_mask(data.demand, data.assignments, nearest, radius, sited)
    service, catch = None, {}
    if fac is not None and sited:
        service = an.service_areas(graph, fac[fac["tier"] == 1], radius)
        catch = an.catchments(fac, [t.tier for t in data.tiers], service)
    return Derived(graph, nearest, uncovered, service, catch, sited)


def _names(frame: pd.DataFrame) -> pd.Series:
    return (
        frame["name"].astype(object).where(frame["name"].notna(), None)
        if "name" in frame.columns
        else pd.Series(None, index=frame.index)
    )


def facility_props(data: MapData, ctx: Context) -> gpd.GeoDataFrame:
    """Facilities with the numbers their popups show."""
    assert data.facilities is not None, "facility_props is for a plan with facilities"
    fac = data.facilities.copy()
    fac["name"] = _names(fac)
    by_id = {(int(t), int(s)): (n if n else f"#{int(s)}") for t, s, n in zip(fac["tier"], fac["site_id"], fac["name"])}
    if "next_site_id" in fac.columns:
        fac["sends_to"] = [
            by_id.get((int(t) + 1, int(n))) if pd.notna(n) and n >= 0 else None  # -1: folders before nulls
            for t, n in zip(fac["tier"], fac["next_site_id"])
        ]
        counts = fac.groupby(["tier", "next_site_id"]).size()
        fac["members"] = [
            int(counts.get((int(t) - 1, int(s)), 0)) if t > 1 else None for t, s in zip(fac["tier"], fac["site_id"])
        ]
        fac["members"] = fac["members"].astype(float)
    if "utilisation" in fac.columns:
        fac["utilisation_pct"] = fac["utilisation"].astype(float) * 100
    existing = fac["existing"].astype(bool) if "existing" in fac.columns else pd.Series(False, index=fac.index)
    # an opened site's own status (kept or closable) says more than "existing"; older run folders have only status
    own = "site_status" if "site_status" in fac.columns else "status"
    status = fac[own].map(lambda s: status_label(ctx.lang, s)) if own in fac.columns else pd.Series("", index=fac.index)
    fac["status_text"] = status.where(existing, ctx.L("new_facility"))
    fac["fusion_text"] = (
        fac["fusion"].map(lambda v: ctx.L("yes") if bool(v) else ctx.L("no")) if "fusion" in fac.columns else None
    )
    asg = data.assignments
    if asg is not None and len(asg) and "households" in data.demand.columns:
        first = asg[asg["level"] == "demand-t1"]
        hh = data.demand.set_index("demand_id")["households"]
        served = first.assign(hh=hh.reindex(first["from_id"]).to_numpy()).groupby("to_id")["hh"].sum()
        fac["served_households"] = [
            float(served.get(s, 0.0)) if t == 1 else None for t, s in zip(fac["tier"], fac["site_id"])
        ]
        fac["served_households"] = fac["served_households"].astype(float)
    return fac


# How a popup shows each column it may list: the format, and the label key where it is not the column's name.
FIELD_FORMATS = {
    "site_id": "int",
    "status_text": "text",
    "load_kg_day": "int",
    "capacity_kg_day": "int",
    "utilisation_pct": "f1",
    "served_households": "int",
    "members": "int",
    "sends_to": "text",
    "open_cost": "int",
    "fusion_text": "text",
    "radius_m": "int",
    "households": "int",
    "nearest_m": "int",
    "note": "text",
    "kg_day": "f1",
    "served_by": "text",
    "method": "text",
    "snap_m": "int",
    "source": "text",
    "tiers": "text",
    "distance_m": "int",
    "hours": "text",
    "min_weight_t": "f1",
}
FIELD_LABELS = {"status_text": "status", "fusion_text": "fusion", "note": "status"}

FACILITY_FIELDS = [
    "site_id",
    "status_text",
    "load_kg_day",
    "capacity_kg_day",
    "utilisation_pct",
    "served_households",
    "members",
    "sends_to",
    "open_cost",
    "fusion_text",
]


def _fields(ctx: Context, cols: list[str], present: set[str] | None = None) -> list[list[str]]:
    """Popup fields ``[column, label, format]`` of ``cols`` (those in ``present``, when given)."""
    return [
        [col, ctx.L(FIELD_LABELS.get(col, col)), FIELD_FORMATS[col]]
        for col in cols
        if present is None or col in present
    ]


def _named_popup(ctx: Context, subtitle: str, cols: list[str], present: set[str] | None = None) -> dict:
    """A popup titled by the feature's ``name``, with a subtitle and the fields of ``cols`` (see :func:`_fields`)."""
    return {"title": "name", "subtitle": subtitle, "fields": _fields(ctx, cols, present)}


def _layer(
    layer_id: str, group: str, name: str, kind: str, z: int, data: Any, *, show: bool = True, **spec: Any
) -> dict[str, Any]:
    """One layer of the page's configuration: the keys every layer has, in the page's order, then its own."""
    return {"id": layer_id, "group": group, "name": name, "show": show, "kind": kind, "z": z, "data": data, **spec}


def facility_layer(
    fac: gpd.GeoDataFrame,
    t: int,
    ctx: Context,
    layer_id: str,
    name: str,
    icon: str | None = None,
    badge: str | None = None,
) -> dict:
    """One tier's facilities, shown in the network group: icon markers (canvas circles when there are very many)."""
    cols = {
        c: (0 if c in ("site_id", "load_kg_day", "capacity_kg_day", "members", "served_households", "open_cost") else 1)
        for c in FACILITY_FIELDS
    }
    cols.update({"name": 0, "tier": 0, "existing": 0})
    data = encode_points(fac, cols, ctx.shift)
    spec: dict[str, Any] = {
        "id": layer_id,
        "group": "network",
        "name": name,
        "show": True,
        "z": 90 + t,
        "data": data,
        "popup": _named_popup(ctx, tier_name(ctx.lang, t), FACILITY_FIELDS, set(fac.columns)),
        "tooltip": {"title": "name", "subtitle": tier_name(ctx.lang, t)},
    }
    if len(fac) > MAX_MARKERS:
        spec.update(
            {
                "kind": "circles",
                "style": {
                    "radius": 3 + t,
                    "color": "#ffffff",
                    "weight": 1,
                    "fillColor": TIER_COLOURS[t],
                    "fillOpacity": 0.95,
                },
                "by": [{"prop": "existing", "map": {"true": {"color": "#111111", "weight": 2.5}}}],
            }
        )
    else:
        spec.update({"kind": "markers", "icon": icon or "auto", "badge": badge})
    return spec


def plan_layers(
    data: MapData, ctx: Context, derived: Derived, show_roads: bool = False, streets: bool = False
) -> tuple[list[dict], set[str]]:
    """Every layer of one plan, in the order the layer control lists them.

    Returns
    -------
    list of dict, set of str
        Layer specs for the script, and the legend entries they need.
    """
    layers: list[dict] = []
    has: set[str] = set()
    fac = facility_props(data, ctx) if derived.sited else None
    _network_layers(layers, has, data, ctx, fac)
    _coverage_layers(layers, has, data, ctx, derived, fac)
    _demand_layers(layers, has, data, ctx, _demand_points(data, ctx, derived, fac), derived)
    _context_layers(layers, has, data, ctx, derived, show_roads=show_roads, streets=streets)
    return layers, has


def _network_layers(
    layers: list[dict], has: set[str], data: MapData, ctx: Context, fac: gpd.GeoDataFrame | None
) -> None:
    """Append the facilities per tier, links and routes to ``layers`` and their legend entries to ``has``."""
    L = ctx.L
    lang = ctx.lang
    tiers = [t.tier for t in data.tiers]
    if fac is not None:
        for t in tiers:
            sub = fac[fac["tier"] == t]
            if sub.empty:
                continue
            name = L("fac_layer").format(
                name=tier_name(lang, t), n=len(sub), k=int((~sub["existing"].astype(bool)).sum())
            )
            layers.append(facility_layer(sub, t, ctx, f"fac{t}", name))
    asg = data.assignments
    if asg is not None and len(asg):
        levels = [("demand-t1", L("link_demand"), 1, 0.9, 0.45)]
        levels += [
            (f"t{t - 1}-t{t}", L("tier_link").format(tier_name(lang, t - 1), tier_name(lang, t)), t, 1.5 + t, 0.75)
            for t in tiers[1:]
        ]
        for level, name, t, weight, opacity in levels:
            sub = asg[asg["level"] == level]
            if sub.empty:
                continue
            sub = sub.assign(level_text=name)
            layers.append(
                _layer(
                    f"link{t}",
                    "network",
                    name,
                    "lines",
                    40 + t,
                    encode_lines(
                        sub, {"level_text": 0, "kg_day": 1, "distance_m": 0, "from_id": 0, "to_id": 0}, ctx.shift
                    ),
                    style={"color": TIER_COLOURS[t], "weight": weight, "opacity": opacity},
                    popup={
                        "title": "level_text",
                        "fields": _fields(ctx, ["kg_day", "distance_m"]),
                    },
                    tooltip={"title": "level_text", "fields": _fields(ctx, ["distance_m"])},
                )
            )
            has.add("assign")
    routes = data.routes
    if (
        isinstance(routes, gpd.GeoDataFrame)
        and len(routes)
        and shapely.get_type_id(routes.geometry.to_numpy()).max() <= 5
    ):
        routes = routes.copy()
        vehicle_col = next((c for c in ("vehicle", "vehicle_id", "vehicle_name") if c in routes.columns), None)
        key = (
            routes[vehicle_col].astype(str)
            if vehicle_col
            else pd.Series([str(i) for i in range(len(routes))], index=routes.index)
        )
        palette = {v: ROUTE_COLOURS[i % len(ROUTE_COLOURS)] for i, v in enumerate(sorted(key.unique()))}
        routes["_colour"] = key.map(palette)
        scalar = [
            c for c in routes.columns if c not in (routes.geometry.name, "_colour") and routes[c].dtype.kind in "biufO"
        ][:12]
        cols = {c: 1 for c in scalar}
        cols["_colour"] = 0
        layers.append(
            _layer(
                "routes",
                "network",
                f"{L('routes')} ({len(routes)})",
                "lines",
                50,
                encode_geojson(routes, cols, ctx.shift, 6),
                style={"weight": 3.5, "opacity": 0.85},
                colorProp="_colour",
                popup={
                    "title": vehicle_col or "",
                    "fields": [[c, L(c) if c in ("vehicle", "stops") else c, "auto"] for c in scalar],
                },
                tooltip={"title": vehicle_col or ""},
            )
        )
        has.add("routes")


def _coverage_layers(
    layers: list[dict], has: set[str], data: MapData, ctx: Context, derived: Derived, fac: gpd.GeoDataFrame | None
) -> None:
    """Append the service areas and catchments to ``layers`` and their legend entries to ``has``."""
    if fac is None:  # derive() finds service areas and catchments only for a sited plan
        return
    L = ctx.L
    lang = ctx.lang
    if derived.service is not None and len(derived.service):
        sa = derived.service.merge(
            fac[fac["tier"] == 1][
                ["site_id", "name", "served_households"] if "served_households" in fac.columns else ["site_id", "name"]
            ],
            on="site_id",
            how="left",
        )
        sa["radius_m"] = data.tier(1).radius_m
        layers.append(
            _layer(
                "service",
                "coverage",
                f"{L('service_areas')} ({data.tier(1).radius_m:g} m)",
                "areas",
                30,
                encode_geojson(sa, {"site_id": 0, "name": 0, "radius_m": 0, "served_households": 0}, ctx.shift, 5),
                style=_area_style(TIER_COLOURS[1], weight=1, opacity=0.6, fill_opacity=0.1),
                popup=_named_popup(ctx, L("service_area"), ["site_id", "radius_m", "served_households"]),
            )
        )
        has.add("service")
    for t, frame in sorted(derived.catchments.items()):
        frame = frame.merge(fac[fac["tier"] == t][["site_id", "name"]], on="site_id", how="left")
        layers.append(
            _layer(
                f"catch{t}",
                "coverage",
                L("catch_layer").format(name=tier_name(lang, t)),
                "areas",
                28 - t,
                encode_geojson(frame, {"site_id": 0, "name": 0, "members": 0}, ctx.shift, 5),
                show=t == 2,
                style=_area_style(TIER_COLOURS[t], weight=2, opacity=0.8, fill_opacity=0.04, dash="6 4"),
                popup=_named_popup(
                    ctx,
                    L("catch_layer").format(name=tier_name(lang, t)),
                    ["site_id", "members"],
                ),
            )
        )
        has.add("catchment")


def _demand_points(data: MapData, ctx: Context, derived: Derived, fac: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The demand points with the names, distances and serving sites their popups show."""
    lang = ctx.lang
    asg = data.assignments
    demand = data.demand.reset_index(drop=True)
    served_by = {}
    if asg is not None and len(asg) and fac is not None:
        names = {
            int(s): (n if n else f"#{int(s)}")
            for s, n in zip(fac.loc[fac["tier"] == 1, "site_id"], fac.loc[fac["tier"] == 1, "name"])
        }
        first = asg[asg["level"] == "demand-t1"]
        served_by = {int(d): names.get(int(s), f"#{int(s)}") for d, s in zip(first["from_id"], first["to_id"])}
    pts = demand.copy()
    pts["name"] = _names(pts)
    if "method" in pts.columns:
        pts["method"] = pts["method"].map(lambda m: LABELS[lang].get(f"method_{m}", m) if isinstance(m, str) else m)
    pts["nearest_m"] = np.where(np.isfinite(derived.nearest), derived.nearest, np.nan)
    if "demand_id" in pts.columns:
        pts["served_by"] = pts["demand_id"].map(lambda d: served_by.get(int(d)))
    return pts


def _demand_layers(
    layers: list[dict], has: set[str], data: MapData, ctx: Context, pts: gpd.GeoDataFrame, derived: Derived
) -> None:
    """Append the uncovered demand, the demand points and the compounds to ``layers`` and ``has``."""
    L = ctx.L
    unc = pts[derived.uncovered]
    if len(unc):
        unc = unc.assign(note=L("demand_uncovered_note"))
        layers.append(
            _layer(
                "uncovered",
                "coverage",
                f"{L('uncovered')} ({len(unc)})",
                "circles",
                70,
                encode_points(unc, {"name": 0, "households": 0, "nearest_m": 0, "note": 0}, ctx.shift),
                style={
                    "radius": 9,
                    "color": "#000000",
                    "weight": 2.5,
                    "dashArray": "3 3",
                    "fill": True,
                    "fillColor": "#ffeb3b",
                    "fillOpacity": 0.35,
                },
                popup=_named_popup(ctx, L("uncovered"), ["households", "nearest_m", "note"]),
                tooltip={"title": "name", "subtitle": L("uncovered")},
            )
        )
        has.add("uncovered")

    # --- demand
    big = len(pts) > 5000
    pts["r"] = np.clip(np.sqrt(pts["households"].fillna(0).to_numpy(float)) / 3, 1.5 if big else 2, 6 if big else 12)
    if "snap_ok" not in pts.columns:
        pts["snap_ok"] = True
    layers.append(
        _layer(
            "demand",
            "demand",
            f"{L('demand')} ({len(pts):,})",
            "circles",
            60,
            encode_points(
                pts,
                {
                    "name": 0,
                    "households": 0,
                    "kg_day": 1,
                    "method": 0,
                    "snap_m": 0,
                    "nearest_m": 0,
                    "served_by": 0,
                    "snap_ok": 0,
                    "r": 1,
                },
                ctx.shift,
            ),
            style={"color": DEMAND_COLOUR, "weight": 0.8 if big else 1, "fillColor": "#ef5350", "fillOpacity": 0.6},
            radiusProp="r",
            by=[{"prop": "snap_ok", "map": {"false": {"color": "#000000", "weight": 2}}}],
            popup=_named_popup(
                ctx, L("demand"), ["households", "kg_day", "nearest_m", "served_by", "method", "snap_m"]
            ),
            tooltip={"title": "name", "fields": _fields(ctx, ["households"])},
        )
    )
    has.add("demand")
    if data.demand_areas is not None and len(data.demand_areas):
        areas = data.demand_areas.copy()
        areas["name"] = _names(areas)
        layers.append(
            _layer(
                "compounds",
                "demand",
                f"{L('compounds')} ({len(areas):,})",
                "areas",
                20,
                encode_geojson(areas, {"name": 0, "households": 0}, ctx.shift, 5),
                style=_area_style(DEMAND_COLOUR, weight=0.8, opacity=0.6, fill_opacity=0.05),
                popup=_named_popup(ctx, L("compounds"), ["households"]),
            )
        )


def _context_layers(
    layers: list[dict], has: set[str], data: MapData, ctx: Context, derived: Derived, *, show_roads: bool, streets: bool
) -> None:
    """Append the restrictions, candidate sites and roads to ``layers`` and their legend entries to ``has``."""
    L = ctx.L
    lang = ctx.lang
    tiers = [t.tier for t in data.tiers]
    rest = data.restrictions
    if rest is not None and len(rest):
        for kind, key in (("zone", "restricted"), ("ways", "restricted_ways")):
            sub = rest[rest["kind"] == kind]
            if sub.empty:
                continue
            style = (
                _area_style(RESTRICTED_COLOUR, weight=2.5, opacity=0.9, fill_opacity=0.06, dash="8 5")
                if kind == "zone"
                else {"color": RESTRICTED_COLOUR, "weight": 4, "opacity": 0.7}
            )
            layers.append(
                _layer(
                    f"{key}",
                    "context",
                    f"{L(key)} ({len(sub)})",
                    "areas" if kind == "zone" else "lines",
                    10 if kind == "zone" else 45,
                    encode_geojson(sub, {"name": 0, "hours": 0, "min_weight_t": 1}, ctx.shift, 5),
                    style=style,
                    popup=_named_popup(ctx, L(key), ["hours", "min_weight_t"]),
                    tooltip={"title": "name", "fields": _fields(ctx, ["hours"])},
                )
            )
            has.add("restricted")
    sites = data.sites
    if sites is not None and len(sites):
        for t in tiers:
            col = f"tier{t}"
            if col not in sites.columns:
                continue
            sub = sites[sites[col].astype(bool)].copy()
            if sub.empty:
                continue
            sub["name"] = _names(sub)
            sub["status_text"] = sub["status"].map(lambda s: status_label(lang, s)) if "status" in sub.columns else None
            existing = sub["existing"].astype(bool) if "existing" in sub.columns else pd.Series(False, index=sub.index)
            sub["existing"] = existing
            layers.append(
                _layer(
                    f"cand{t}",
                    "context",
                    L("cand_layer").format(name=tier_name(lang, t), c=int((~existing).sum()), e=int(existing.sum())),
                    "circles",
                    80,
                    encode_points(
                        sub,
                        {"site_id": 0, "name": 0, "source": 0, "status_text": 0, "tiers": 0, "existing": 0},
                        ctx.shift,
                    ),
                    show=not derived.sited and (t > 1 or len(sub) < 1500),
                    style={
                        "radius": 2 + t,
                        "color": TIER_COLOURS[t],
                        "weight": 1,
                        "fillColor": TIER_COLOURS[t],
                        "fillOpacity": 0.35,
                    },
                    by=[{"prop": "existing", "map": {"true": {"color": "#111111", "weight": 2.5, "fillOpacity": 0.9}}}],
                    popup=_named_popup(
                        ctx, f"{tier_name(lang, t)} · {L('candidates')}", ["site_id", "status_text", "source", "tiers"]
                    ),
                )
            )
    roads = road_layers(data, ctx, show=show_roads, streets=streets)
    if roads:
        has.add("roads")
    layers.extend(roads)


def bounds(data: MapData, ctx: Context) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the demand (or facilities, or roads), shifted like the overlays."""
    for frame in (data.demand, data.facilities, data.roads):
        if frame is not None and len(frame):
            b = frame.total_bounds
            if np.isfinite(b).all():
                xy = np.array([[b[0], b[1]], [b[2], b[3]]])
                if ctx.shift is not None:
                    xy = ctx.shift(xy)
                return [[float(xy[0, 1]), float(xy[0, 0])], [float(xy[1, 1]), float(xy[1, 0])]]
    return None
