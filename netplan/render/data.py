"""What a map is drawn from: one :class:`MapData` per plan.

A map can be drawn from a :class:`~netplan.plan.Plan` in memory (``netplan
run``) or from a run's output folder (``netplan compare``): the GeoPackage,
``kpis.csv`` and ``manifest.json``, without re-running anything. Both are
turned into the same :class:`MapData`, so both go through one rendering path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from netplan.errors import InputDataError
from netplan.io import read_layer
from netplan.plan import kpi_value
from netplan.route.bans import zone_geometry

WGS84 = "EPSG:4326"
PLAN_LAYERS = ("demand_areas", "sites", "facilities", "assignments", "routes")
"""The plan's layers besides ``demand`` that a map draws, under the same names in :class:`~netplan.plan.Plan`,
:class:`MapData` and a run's GeoPackage."""
Layer: TypeAlias = gpd.GeoDataFrame | None
"""A map layer, None when the plan or the folder has none."""


@dataclass
class TierInfo:
    """The settings of one tier that maps need."""

    tier: int
    radius_m: float
    capacity_kg_day: float = 0.0


@dataclass
class MapData:
    """Layers, KPIs and settings of one plan, all in WGS-84.

    Attributes
    ----------
    name, title, lang
        Scenario name, display title and default language.
    tiers
        Tier settings (radius, capacity).
    demand, demand_areas, sites, facilities, assignments, routes
        The plan's layers (None when absent).
    roads, walkways
        Edges of the truck and walk graphs (``u, v, length, highway, name``).
    restrictions
        Restricted-traffic zones (polygons) and restricted ways (lines):
        ``name, hours, min_weight_t, geometry``.
    kpis
        The KPI table (``section, key, value, unit``).
    source
        The output folder it was read from, if any.
    warnings
        The run's warnings (:meth:`netplan.diagnostics.RunWarning.as_dict`
        dicts), None when unknown (an output folder written before warnings
        were recorded).
    outputs
        The scenario's ``outputs`` settings as recorded (basemap, offline,
        token), for redrawing a run's map with its own options.
    """

    name: str
    title: str
    lang: str
    tiers: list[TierInfo]
    demand: gpd.GeoDataFrame
    demand_areas: Layer = None
    sites: Layer = None
    facilities: Layer = None
    assignments: Layer = None
    routes: Layer = None
    roads: Layer = None
    walkways: Layer = None
    restrictions: Layer = None
    kpis: pd.DataFrame | None = None
    source: Path | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[dict] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    def kpi(self, section: str, key: str) -> Any:
        """One KPI value (raises KeyError when absent)."""
        return kpi_value(self.kpis, section, key)

    def tier(self, number: int) -> TierInfo:
        """The settings of tier ``number``."""
        return self.tiers[number - 1]

    @classmethod
    def from_plan(cls, plan: Any) -> MapData:
        """Gather a plan's layers (the city graphs give roads and walkways)."""
        sc = plan.scenario
        roads = _edges(plan.city.network("drive").edges())
        walkways = _edges(plan.city.network("walk").edges())
        restrictions = restriction_layer([r.model_dump(mode="json") for r in sc.restrictions], sc.base_dir, roads)
        return cls(
            name=sc.name,
            title=sc.title or sc.name,
            lang=sc.lang,
            tiers=[TierInfo(t.tier, float(t.radius_m), float(t.capacity_kg_day)) for t in sc.tiers],
            demand=plan.demand,
            **{name: getattr(plan, name) for name in PLAN_LAYERS},
            roads=roads,
            walkways=walkways,
            restrictions=restrictions,
            kpis=plan.kpis,
            warnings=[w.as_dict() for w in getattr(plan, "warnings", None) or []],
            outputs=sc.outputs.model_dump(mode="json"),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> MapData:
        """Read a ``netplan run`` output folder (GeoPackage, kpis.csv, manifest.json).

        Raises
        ------
        NetplanError
            When the folder is not a netplan output folder.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise InputDataError("not a folder (expected an output folder of 'netplan run')", folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise InputDataError("manifest.json not found: expected an output folder of 'netplan run'", folder)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputDataError(f"not valid JSON: {exc}", manifest_path) from None
        settings = manifest.get("settings") or {}
        name = str(manifest.get("scenario") or settings.get("name") or folder.name)
        gpkg = folder / f"{name}.gpkg"
        if not gpkg.is_file():
            found = sorted(folder.glob("*.gpkg"))
            if len(found) != 1:
                raise InputDataError(f"expected the run's GeoPackage {gpkg.name} in the folder", folder)
            gpkg = found[0]
        try:
            available = {layer for layer, _ in pyogrio.list_layers(gpkg)}
        except Exception as exc:  # pyogrio raises its own DataSourceError
            raise InputDataError(f"cannot read the GeoPackage: {exc}", gpkg) from None

        def layer(name: str) -> Layer:
            if name not in available:
                return None
            frame = _run_layer(gpkg, name)
            return frame.to_crs(WGS84) if frame.crs is not None and not frame.crs.equals(WGS84) else frame

        demand = layer("demand")
        if demand is None:
            raise InputDataError("the GeoPackage has no 'demand' layer", gpkg)
        kpis = None
        if (folder / "kpis.csv").is_file():
            kpis = read_kpis(folder / "kpis.csv")
        tiers = [
            TierInfo(int(t["tier"]), float(t["radius_m"]), float(t.get("capacity_kg_day") or 0.0))
            for t in settings.get("tiers", [])
        ]
        if not tiers:
            raise InputDataError("manifest.json has no tier settings", manifest_path)
        base = None
        for item in manifest.get("inputs", []):
            if item.get("role") == "scenario":
                base = Path(item["path"]).parent
        roads = layer("roads")
        layers: dict[str, Any] = {name: layer(name) for name in PLAN_LAYERS}
        return cls(
            name=name,
            title=str(manifest.get("title") or settings.get("title") or name),
            lang=str(settings.get("lang") or "zh"),
            tiers=tiers,
            demand=demand,
            **layers,
            roads=roads,
            walkways=layer("walkways"),
            restrictions=restriction_layer(settings.get("restrictions") or [], base or folder, roads),
            kpis=kpis,
            source=folder,
            warnings=list(manifest["warnings"]) if isinstance(manifest.get("warnings"), list) else None,
            outputs=dict(settings.get("outputs") or {}),
        )


def _run_layer(gpkg: Path, name: str) -> gpd.GeoDataFrame:
    """A layer of a run's GeoPackage, nulls as nulls (run folders from before 2026-12 wrote -1 for "sends nowhere")."""
    frame = read_layer(gpkg, name)
    if name == "facilities" and "next_site_id" in frame.columns:
        ids = frame["next_site_id"].astype("Int64")
        frame["next_site_id"] = ids.mask(ids < 0)
    return frame


def read_kpis(path: str | Path) -> pd.DataFrame:
    """Read a ``kpis.csv``: numbers become floats, everything else stays text."""
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    missing = {"section", "key", "value"} - set(frame.columns)
    if missing:
        raise InputDataError(f"expected columns section, key, value, unit; missing {sorted(missing)}", path)

    def value(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    frame["value"] = frame["value"].map(value).astype(object)
    if "unit" not in frame.columns:
        frame["unit"] = ""
    return frame


def _edges(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Graph edges as a WGS-84 layer with the columns maps need."""
    out = edges.to_crs(WGS84).reset_index()
    keep = [c for c in ("u", "v", "length", "highway", "name", "osmid") if c in out.columns]
    out = out[keep + ["geometry"]].copy()
    for col in ("highway", "name", "osmid"):
        if col in out.columns:
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, tuple)) else v)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)


def _osm_ids(value: Any) -> set[int]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    if isinstance(value, (list, tuple)):
        return {int(v) for v in value}
    return {int(v) for v in re.findall(r"-?\d+", str(value))}


def restriction_layer(
    restrictions: list[dict], base_dir: str | Path | None, roads: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame | None:
    """Restricted-traffic zones and ways as one WGS-84 layer.

    Parameters
    ----------
    restrictions
        The scenario's ``restrictions`` entries as dicts (``name, hours,
        min_weight_t, zone: {polygon | path, layer, crs}, osm_ways``).
    base_dir
        Folder that relative zone paths are resolved against.
    roads
        The truck graph's edges, for restrictions given as OSM way ids.

    Returns
    -------
    geopandas.GeoDataFrame or None
        ``name, hours, min_weight_t, kind ("zone" | "ways"), geometry``.
    """
    rows = []
    for item in restrictions:
        hours = ", ".join(item.get("hours") or [])
        common = {"name": item.get("name", ""), "hours": hours, "min_weight_t": float(item.get("min_weight_t") or 0.0)}
        zone = item.get("zone")
        if zone:
            geom = zone_geometry(zone, base_dir)
            if geom is not None and not geom.is_empty:
                rows.append({**common, "kind": "zone", "geometry": geom})
        ways = item.get("osm_ways")
        if ways and roads is not None and "osmid" in roads.columns:
            wanted = {int(w) for w in ways}
            hit = roads[roads["osmid"].map(lambda v, wanted=wanted: bool(_osm_ids(v) & wanted))]
            if len(hit):
                rows.append({**common, "kind": "ways", "geometry": shapely.union_all(hit.geometry.to_numpy())})
    if not rows:
        return None
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
