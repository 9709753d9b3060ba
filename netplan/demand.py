"""Where recyclables arise: households and kg/day per stream at demand points.

Two sources:

* **OSM** (:func:`demand_from_osm`). Chinese OSM data maps residential
  compounds (小区, ``landuse=residential``, usually named) far more often than
  buildings. Each compound is one demand point. Its households come from the
  residential buildings mapped inside it (footprint x levels x usable share /
  dwelling size) when those cover at least ``building_coverage_min`` of its
  area, otherwise from its area (households per hectare, or floor-area ratio x
  usable share / dwelling size). Residential buildings outside every compound
  are demand points of their own. Overlapping compounds are made disjoint
  (smaller compounds keep their area, enclosing ones get the rest) and every
  building belongs to at most one compound, so no home is counted twice.
* **A user table** (:func:`demand_from_file`): CSV with lon/lat (or x/y and a
  CRS), or a GeoPackage/GeoJSON of compounds or points, with households or
  population. GCJ-02 and BD-09 coordinates are converted on reading.

Households become kg/day per stream with the scenario's per-household rates,
and every demand point is snapped to the walk network.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.affinity

from netplan import diagnostics
from netplan.city import City
from netplan.coords import normalise_crs_name, suspect_datum, to_wgs84
from netplan.errors import InputDataError, check_cells
from netplan.scenario import DemandConfig, DemandFile, OsmDemand, Scenario

DEMAND_COLUMNS = [
    "demand_id",
    "name",
    "source",
    "method",
    "osm_id",
    "part",
    "parts",
    "area_ha",
    "buildings",
    "households",
    "population",
]


def stream_columns(rates: dict[str, float]) -> list[str]:
    """Column names ``kg_day_<stream>`` for the scenario's streams, in order."""
    return [f"kg_day_{s}" for s in rates]


def _levels(frame: pd.DataFrame, defaults: dict[str, float]) -> np.ndarray:
    parsed = pd.to_numeric(
        frame["building:levels"].astype(str).str.extract(r"([0-9]+(?:\.[0-9]+)?)")[0], errors="coerce"
    )
    fallback = frame["building"].map(defaults).fillna(defaults.get("yes", 1.0))
    levels = parsed.where(parsed > 0, fallback)
    return levels.to_numpy(dtype=float)


def _polygons(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]


def _disjoint(compounds: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Make compounds disjoint: smaller ones keep their area, enclosing ones lose the overlap."""
    compounds = compounds.assign(_area=compounds.area).sort_values(["_area", "osm_id"]).drop(columns="_area")
    taken = None
    own = []
    for geom in compounds.geometry:
        geom = shapely.make_valid(geom)
        part = geom if taken is None else geom.difference(taken)
        own.append(part)
        taken = geom if taken is None else shapely.union(taken, geom)
    out = compounds.copy()
    out["geometry"] = own
    return out[~out.geometry.is_empty & (out.area > 1.0)]


def demand_from_osm(city: City, config: DemandConfig) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Estimate households at OSM residential compounds and buildings.

    Parameters
    ----------
    city
        The loaded city (needs OSM features).
    config
        The scenario's demand settings.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        Demand points (WGS-84 points, one per compound or stand-alone
        residential building) and the compound polygons they stand for.
    """
    if city.features is None or city.features.empty:
        raise InputDataError(
            "the city source has no OSM features (land use, buildings) to estimate demand from; "
            "set city.features to an OSM file, or use demand.source: file",
            where="demand.source",
        )
    osm: OsmDemand = config.osm
    feats = city.features.to_crs(city.crs)
    compounds = _polygons(feats[feats["landuse"] == "residential"])[["osm_type", "osm_id", "name", "geometry"]]
    compounds = _disjoint(compounds.reset_index(drop=True))
    buildings = _polygons(feats[feats["building"].notna() & (feats["building"] != "no")]).copy()
    buildings["footprint_m2"] = buildings.area
    buildings["levels"] = _levels(buildings, osm.levels_default)
    buildings["floor_m2"] = buildings["footprint_m2"] * buildings["levels"]
    inside = gpd.sjoin(
        gpd.GeoDataFrame(buildings[["osm_id"]], geometry=buildings.representative_point(), crs=city.crs),
        compounds[["geometry"]].reset_index(names="compound"),
        how="left",
        predicate="within",
    )
    # A point on a shared boundary can fall "within" none or match twice; keep the first match.
    inside = inside[~inside.index.duplicated(keep="first")]
    buildings["compound"] = inside["compound"].reindex(buildings.index)
    residential_types = set(osm.residential_buildings)
    in_compound = buildings["compound"].notna()
    is_residential = buildings["building"].isin(residential_types) | (
        in_compound & (buildings["building"] == "yes") & osm.count_unspecified_in_compounds
    )
    buildings["households"] = np.where(
        is_residential, buildings["floor_m2"] * osm.usable_floor_share / osm.dwelling_m2, 0.0
    )

    rows = []
    by_compound = buildings[in_compound].groupby("compound")
    cover = by_compound["footprint_m2"].sum()
    b_households = by_compound["households"].sum()
    b_count = by_compound.size()
    for idx, comp in compounds.iterrows():
        area = comp.geometry.area
        coverage = cover.get(idx, 0.0) / area
        from_buildings = b_households.get(idx, 0.0)
        if from_buildings > 0 and coverage >= osm.building_coverage_min:
            method, households = "buildings", from_buildings
        elif osm.households_per_ha is not None:
            method, households = "density", area / 10_000 * osm.households_per_ha
        else:
            method, households = (
                "floor_area_ratio",
                area * osm.floor_area_ratio * osm.usable_floor_share / osm.dwelling_m2,
            )
        rows.append(
            {
                "name": comp["name"] if isinstance(comp["name"], str) else None,
                "source": "compound",
                "method": method,
                "osm_id": int(comp["osm_id"]),
                "area_ha": area / 10_000,
                "buildings": int(b_count.get(idx, 0)),
                "households": float(households),
                "geometry": comp.geometry.representative_point(),
                "_polygon": comp.geometry,
            }
        )
    lone = buildings[~in_compound & (buildings["households"] > 0)]
    for _, b in lone.iterrows():
        rows.append(
            {
                "name": b["name"] if isinstance(b["name"], str) else None,
                "source": "building",
                "method": "buildings",
                "osm_id": int(b["osm_id"]),
                "area_ha": b["footprint_m2"] / 10_000,
                "buildings": 1,
                "households": float(b["households"]),
                "geometry": b.geometry.representative_point(),
                "_polygon": b.geometry,
            }
        )
    if not rows:
        raise InputDataError(
            "no residential compounds (landuse=residential) or residential buildings in the OSM data; "
            "use demand.source: file with a table of compounds",
            where="demand.source",
        )
    # Areas handed on: every compound, and every stand-alone residential building (sites are placed at their edges).
    areas = gpd.GeoDataFrame(
        {
            "kind": [r["source"] for r in rows],
            "name": [r["name"] for r in rows],
            "osm_id": [r["osm_id"] for r in rows],
            "households": [r["households"] for r in rows],
        },
        geometry=[r["_polygon"] for r in rows],
        crs=city.crs,
    ).to_crs("EPSG:4326")
    if osm.max_households_per_point is not None:
        rows = _split_large(rows, osm.max_households_per_point)
    points = gpd.GeoDataFrame(rows, geometry="geometry", crs=city.crs).drop(columns="_polygon").to_crs("EPSG:4326")
    return points, areas.reset_index(drop=True)


def _split_large(rows: list[dict], max_households: float) -> list[dict]:
    """Split compounds and buildings with more than ``max_households`` into several demand points.

    A large compound has several gates and sorting points; one point for all
    of it would also exceed any single collection point's capacity. The
    parts are the k-means cells of a regular grid of points inside the
    polygon (deterministic: no random start), each with an equal share.
    """
    out: list[dict] = []
    for row in rows:
        k = int(np.ceil(row["households"] / max_households))
        if k <= 1:
            out.append(dict(row, part=0, parts=1))
            continue
        centres = _kmeans_centres(row["_polygon"], k)
        for part, centre in enumerate(centres):
            out.append(
                dict(
                    row,
                    households=row["households"] / len(centres),
                    area_ha=row["area_ha"] / len(centres),
                    buildings=row["buildings"],
                    geometry=centre,
                    part=part,
                    parts=len(centres),
                )
            )
    return out


def _kmeans_centres(geom: shapely.Geometry, k: int, iterations: int = 25) -> list[shapely.Point]:
    minx, miny, maxx, maxy = geom.bounds
    step = max(np.sqrt(geom.area / (40 * k)), 1.0)
    xs, ys = np.meshgrid(np.arange(minx + step / 2, maxx, step), np.arange(miny + step / 2, maxy, step))
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    pts = pts[shapely.contains_xy(geom, pts[:, 0], pts[:, 1])]
    if len(pts) < k:
        # too small a footprint to spread (a tall building): its parts share one location
        return [geom.representative_point()] * k
    centres = pts[np.linspace(0, len(pts) - 1, k).round().astype(int)]
    for _ in range(iterations):
        label = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        new = np.array([pts[label == c].mean(axis=0) if (label == c).any() else centres[c] for c in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    # a centroid can fall outside a concave polygon: use the nearest interior grid point instead
    return [shapely.Point(pts[((pts - c) ** 2).sum(axis=1).argmin()]) for c in centres]


def _read_table(spec: DemandFile | object, path: Path) -> pd.DataFrame | gpd.GeoDataFrame:
    if not path.is_file():
        raise InputDataError("file not found", path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding="utf-8-sig", dtype=str)
        layer = getattr(spec, "layer", None)
        return gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except UnicodeDecodeError:
        raise InputDataError("not UTF-8 text (save the table as UTF-8 CSV)", path) from None
    except Exception as exc:  # pandas/pyogrio raise several kinds on malformed files
        raise InputDataError(f"cannot read table: {exc}", path) from None


def _require(frame: pd.DataFrame, column: str, path: Path, key: str) -> None:
    if column not in frame.columns:
        raise InputDataError(
            f"column {column!r} not found (set by {key}); the table has columns {list(frame.columns)}", path
        )


MAX_HOUSEHOLDS_PER_ROW = 1_000_000
"""A row above a million households (the largest Chinese compounds hold tens of thousands) is a typo or a unit slip."""


def _numbers(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    row_offset: int,
    minimum: float | None = None,
    maximum: float | None = None,
) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    check = partial(check_cells, cells=raw, path=path, column=column, offset=row_offset)
    check(values.isna() | ~np.isfinite(values.fillna(0.0)), expected="expected a finite number", count=True)
    if minimum is not None:
        check(values < minimum, expected=f"expected a value >= {minimum}")
    if maximum is not None:
        check(values > maximum, expected=f"expected a value <= {maximum:,.0f}")
    return values.to_numpy(dtype=float)


def _layer_points(
    table: gpd.GeoDataFrame, crs: str | None, path: Path
) -> tuple[pd.DataFrame, gpd.GeoSeries, gpd.GeoSeries | None, tuple[np.ndarray, np.ndarray, str]]:
    """A spatial layer's attributes, points and polygons (WGS-84; None: no polygons), and raw coordinates and datum."""
    offset = 1  # a spatial layer's rows count from 1
    polygons = None
    missing = table.geometry.isna() | table.geometry.is_empty
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputDataError("feature has no geometry", path, f"row {i + offset}")
    declared = crs or (table.crs.to_string() if table.crs is not None else None)
    if declared is None:
        raise InputDataError(
            "the layer has no CRS; set crs: (wgs84, gcj02, bd09 or an EPSG code) for this file", path, "crs"
        )
    name = normalise_crs_name(declared)
    geoms = table.geometry
    reps = geoms.representative_point()
    raw = (reps.x.to_numpy(), reps.y.to_numpy(), name)
    if name in ("gcj02", "bd09"):
        lon, lat = to_wgs84(reps.x.to_numpy(), reps.y.to_numpy(), name)
        shift_x, shift_y = lon - reps.x.to_numpy(), lat - reps.y.to_numpy()
        # Offsets vary by tens of metres over a city; shifting each polygon by its own offset keeps it exact enough.
        polygons_list = [shapely.affinity.translate(g, dx, dy) for g, dx, dy in zip(geoms, shift_x, shift_y)]
        points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        if (geoms.geom_type != "Point").any():
            polygons = gpd.GeoSeries(polygons_list, crs="EPSG:4326")
    else:
        src = table.set_crs(declared, allow_override=True) if crs else table
        geoms = src.geometry.to_crs("EPSG:4326")
        points = geoms.representative_point()
        if (geoms.geom_type != "Point").any():
            polygons = geoms
    attrs = pd.DataFrame(table.drop(columns=table.geometry.name))
    return attrs, points, polygons, raw


def read_points(
    spec: DemandFile | object, path: Path, city: City | None, datum_check: tuple[str, str] | None = None
) -> tuple[pd.DataFrame, gpd.GeoSeries, gpd.GeoSeries | None, int]:
    """Read a user table's locations as WGS-84 points, with clear errors.

    CSV rows are numbered as a spreadsheet shows them (header = row 1); rows
    of spatial files from 1.

    Parameters
    ----------
    spec
        The file settings (``path``, ``crs``, ``lon``/``lat`` or ``x``/``y``).
    path
        Resolved path of the file.
    city
        If given, points outside the city's extent are an error.
    datum_check
        ``(stage, key)`` such as ``("demand", "demand.file.crs")``: with a
        city, warn ``<stage>.datum_suspect`` when the points fit the city
        markedly better in another Chinese datum (see :func:`check_datum`).

    Returns
    -------
    tuple
        The attribute table, the points (WGS-84), the polygons where the
        file had polygons (WGS-84, else None), and the row offset used in
        messages.
    """
    table = _read_table(spec, path)
    if len(table) == 0:
        # caught here, before the columns: an empty GeoPackage layer has no geometry column to tell its kind by
        raise InputDataError("the table has no rows; a plan needs at least one", path)
    crs = getattr(spec, "crs", None)
    polygons = None
    if isinstance(table, gpd.GeoDataFrame) and table.geometry.name in table.columns and table.geometry.notna().any():
        offset = 1
        attrs, points, polygons, raw = _layer_points(table, crs, path)
    else:
        offset = 2
        attrs = pd.DataFrame(table)
        x_col, y_col = getattr(spec, "x", None), getattr(spec, "y", None)
        if x_col or y_col:
            if not (x_col and y_col):
                raise InputDataError("give both x and y column names", path)
            if not crs:
                raise InputDataError(
                    "the table has x/y coordinates but no CRS; set crs: to an EPSG code (e.g. EPSG:4547) "
                    "or wgs84/gcj02/bd09",
                    path,
                    "crs",
                )
            cols = (x_col, y_col)
        else:
            cols = (getattr(spec, "lon", "lon"), getattr(spec, "lat", "lat"))
            crs = crs or "wgs84"
        for col, key in zip(cols, ("x/lon", "y/lat")):
            _require(attrs, col, path, key)
        xs = _numbers(attrs, cols[0], path, offset)
        ys = _numbers(attrs, cols[1], path, offset)
        if normalise_crs_name(crs) in ("wgs84", "gcj02", "bd09"):
            bad = (np.abs(xs) > 180) | (np.abs(ys) > 90)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputDataError(
                    f"({xs[i]}, {ys[i]}) is not a longitude/latitude pair; if these are projected x/y, "
                    "name them with x:, y: and set crs:",
                    path,
                    f"row {i + offset}",
                )
        try:
            lon, lat = to_wgs84(xs, ys, crs)
        except ValueError as exc:
            raise InputDataError(str(exc), path, "crs") from None
        points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        raw = (xs, ys, crs)
    if city is not None and len(points):
        extent = city.extent()
        outside = ~points.within(extent).to_numpy()
        if outside.any():
            rows = (np.flatnonzero(outside)[:5] + offset).tolist()
            raise InputDataError(
                f"{int(outside.sum())} location(s) lie outside the city's road network (first rows: {rows}); "
                "check the coordinate columns and the declared crs (GCJ-02/BD-09 data needs crs: gcj02 or bd09)",
                path,
                f"row {rows[0]}",
            )
        if datum_check is not None:
            check_datum(raw[0], raw[1], raw[2], city, stage=datum_check[0], key=datum_check[1], what=path.name)
    return attrs.reset_index(drop=True), points.reset_index(drop=True), polygons, offset


_DATUM_SOURCE = {
    "gcj02": "AMap or Tencent maps (GCJ-02)",
    "bd09": "Baidu maps (BD-09)",
    "wgs84": "GPS or OpenStreetMap (WGS-84)",
}


def check_datum(x: np.ndarray, y: np.ndarray, declared: str, city: City, *, stage: str, key: str, what: str) -> None:
    """Warn ``<stage>.datum_suspect`` when a table's points fit the city markedly better in another datum.

    Evidence: the points' median distance to the walk and truck roads, and
    (when the city has OSM features) the share of points inside a mapped
    land-use area or building; see :func:`netplan.coords.suspect_datum`.

    Parameters
    ----------
    x, y
        The raw coordinates as written in the table.
    declared
        The table's declared CRS (only wgs84, gcj02 and bd09 are tested).
    city
        The loaded city.
    stage, key, what
        The warning's stage, the scenario key to set and the file's name.
    """
    try:
        if normalise_crs_name(declared) not in ("wgs84", "gcj02", "bd09"):
            return
    except ValueError:
        return

    def distance(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        return np.minimum(city.walk.snap(pts, np.inf).snap_m, city.drive.snap(pts, np.inf).snap_m)

    inside = None
    if city.features is not None and not city.features.empty:
        feats = city.features
        areas = feats.geometry[feats.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].to_numpy()
        if len(areas):
            tree = shapely.STRtree(areas)

            def inside(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
                hit = np.zeros(len(lon), dtype=bool)
                hit[tree.query(shapely.points(lon, lat), predicate="within")[0]] = True
                return hit

    found = suspect_datum(x, y, declared, distance_m=distance, inside=inside)
    if found:
        datum, evidence = found
        diagnostics.warn(
            stage,
            f"{stage}.datum_suspect",
            f"{what}: {evidence}; if the coordinates were taken from {_DATUM_SOURCE[datum]}, set {key}: {datum}",
            ids=[what],
        )


def demand_from_file(
    city: City | None, spec: DemandFile, path: Path, persons_per_household: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Read demand from a user table of compounds or points.

    Parameters
    ----------
    city
        The city (for the extent check), or None to skip the check.
    spec
        Column names and CRS.
    path
        Resolved path of the table.
    persons_per_household
        Used when the table gives population instead of households.

    Returns
    -------
    tuple
        Demand points (WGS-84) and, if the file had polygons, the areas.
    """
    attrs, points, polygons, offset = read_points(spec, path, city, datum_check=("demand", "demand.file.crs"))
    if spec.households and spec.households in attrs.columns:
        households = _numbers(attrs, spec.households, path, offset, minimum=0, maximum=MAX_HOUSEHOLDS_PER_ROW)
    elif spec.population and spec.population in attrs.columns:
        households = (
            _numbers(
                attrs, spec.population, path, offset, minimum=0, maximum=MAX_HOUSEHOLDS_PER_ROW * persons_per_household
            )
            / persons_per_household
        )
    else:
        wanted = [c for c in (spec.households, spec.population) if c]
        raise InputDataError(
            f"no households or population column (looked for {wanted}); the table has columns {list(attrs.columns)}",
            path,
        )
    if not (households > 0).any():
        raise InputDataError(
            f"every row has 0 households ({len(attrs)} row(s)); nothing to plan for",
            path,
            f"column {spec.households if spec.households in attrs.columns else spec.population!r}",
        )
    _warn_duplicates(attrs, points, spec, path, offset)
    names = (
        attrs[spec.name].astype(object).where(attrs[spec.name].notna(), None)
        if spec.name and spec.name in attrs
        else None
    )
    frame = gpd.GeoDataFrame(
        {
            "name": names if names is not None else [None] * len(attrs),
            "source": "file",
            "method": "table",
            "osm_id": pd.array([pd.NA] * len(attrs), dtype="Int64"),
            "area_ha": np.nan,
            "buildings": 0,
            "households": households,
        },
        geometry=points,
        crs="EPSG:4326",
    )
    areas = None
    if polygons is not None:
        areas = gpd.GeoDataFrame(
            {"name": frame["name"], "households": households}, geometry=polygons.values, crs="EPSG:4326"
        )
        frame["area_ha"] = areas.to_crs(city.crs if city else areas.estimate_utm_crs()).area.to_numpy() / 10_000
    return frame, areas


def split_table_rows(
    points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, crs: str, max_households: float
) -> gpd.GeoDataFrame:
    """Split a table's compounds above ``max_households`` into equal parts, as OSM compounds are.

    A compound given as a polygon is split like an OSM compound (k-means cells
    inside it); one given as a point keeps every part at that point, so each
    part can still walk to a different collection point.

    Parameters
    ----------
    points
        Demand points from :func:`demand_from_file` (WGS-84).
    areas
        Their polygons (same row order), or None for a point table.
    crs
        The city's metric CRS, where the parts are placed.
    max_households
        ``demand.osm.max_households_per_point``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per part, with ``part`` and ``parts``.
    """
    projected = points.to_crs(crs)
    shapes = areas.to_crs(crs).geometry.to_numpy() if areas is not None else projected.geometry.to_numpy()
    records = projected.drop(columns="geometry").to_dict("records")
    rows = [dict(rec, geometry=pt, _polygon=shape) for rec, pt, shape in zip(records, projected.geometry, shapes)]
    parts = _split_large(rows, max_households)
    out = gpd.GeoDataFrame(parts, geometry="geometry", crs=crs).drop(columns="_polygon").to_crs("EPSG:4326")
    out["osm_id"] = pd.array(out["osm_id"], dtype="Int64")
    return out


def _repeated_key(ids: pd.Series, repeated: np.ndarray) -> np.ndarray:
    """Rows whose key another row has too, leaving out exact copies (reported on their own)."""
    out = np.zeros(len(ids), dtype=bool)
    kept = np.flatnonzero(~repeated)
    out[kept] = ids.iloc[kept].duplicated(keep=False).to_numpy()
    return out


def _warn_duplicates(attrs: pd.DataFrame, points: gpd.GeoSeries, spec: DemandFile, path: Path, offset: int) -> None:
    """Warn about rows that repeat another row, or an id (``file.id``, else the name) at the same place.

    Both are kept and counted (the table may list two blocks of one compound); the warning names the rows so
    that a copy-paste accident is found.
    """
    rows = attrs.assign(_x=points.x.round(7).to_numpy(), _y=points.y.round(7).to_numpy())
    repeated = rows.duplicated(keep="first").to_numpy()
    if repeated.any():
        numbers = (np.flatnonzero(repeated) + offset).tolist()
        diagnostics.warn(
            "demand",
            "demand.duplicate_rows",
            f"{path.name}: {len(numbers)} row(s) repeat an earlier row exactly and are counted again "
            f"(rows {numbers[:10]}); delete them if they are copies",
            ids=numbers,
        )
    key = spec.id if spec.id and spec.id in attrs.columns else None
    if spec.id and key is None:
        raise InputDataError(f"column {spec.id!r} (id) not found; the table has columns {list(attrs.columns)}", path)
    if key is not None:
        ids = attrs[key].astype(str).str.strip()
        twice = _repeated_key(ids, repeated) & attrs[key].notna().to_numpy()
        what = f"id column {key!r}"
    elif spec.name and spec.name in attrs.columns:
        # without an id column a name repeated at the same coordinates is the same compound listed twice
        ids = attrs[spec.name].astype(str) + rows["_x"].astype(str) + rows["_y"].astype(str)
        twice = _repeated_key(ids, repeated) & attrs[spec.name].notna().to_numpy()
        what = f"name column {spec.name!r} at the same coordinates"
    else:
        return
    if twice.any():
        numbers = (np.flatnonzero(twice) + offset).tolist()
        values = sorted(set(attrs[key or spec.name].astype(str).to_numpy()[twice]))
        diagnostics.warn(
            "demand",
            "demand.duplicate_ids",
            f"{path.name}: {len(numbers)} row(s) share an id ({what}): {values[:5]}; each row is counted, "
            f"check that they are different compounds (rows {numbers[:10]})",
            ids=numbers,
        )


def finish_demand(points: gpd.GeoDataFrame, config: DemandConfig, city: City, snap_limit_m: float) -> gpd.GeoDataFrame:
    """Add population, kg/day per stream and walk-network snapping; number the points.

    Parameters
    ----------
    points
        Demand points with at least ``households``.
    config
        Demand settings (stream rates, persons per household).
    city
        The city (walk network for snapping).
    snap_limit_m
        Points farther from the walk network get ``snap_ok = False``.

    Returns
    -------
    geopandas.GeoDataFrame
        The demand layer.
    """
    out = points.reset_index(drop=True).copy()
    for col in ("part", "parts"):
        if col not in out.columns:
            out[col] = 0 if col == "part" else 1
    out.insert(0, "demand_id", np.arange(len(out), dtype=np.int64))
    out["population"] = out["households"] * config.persons_per_household
    for stream, rate in config.streams.items():
        out[f"kg_day_{stream}"] = out["households"] * rate
    out["kg_day"] = out[stream_columns(config.streams)].sum(axis=1)
    snapped = city.walk.snap(out, snap_limit_m)
    out["walk_node"] = snapped.node
    out["snap_m"] = snapped.snap_m
    out["offset_m"] = snapped.offset_m
    out["snap_ok"] = snapped.ok
    far = out[~out["snap_ok"] & (out["households"] > 0)]
    if len(far):
        names = [
            str(n) if isinstance(n, str) and n else f"demand point {i}" for i, n in zip(far["demand_id"], far["name"])
        ]
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        diagnostics.warn(
            "demand",
            "demand.far_from_network",
            f"{len(far)} demand point(s) ({far['households'].sum():,.0f} households, "
            f"{far['kg_day'].sum():,.0f} kg/day) lie farther than city.snap_limit_m ({snap_limit_m:g} m) "
            "from every walkable way the city keeps (e.g. beside a piece of road that was cut off) and "
            f"are left out of the plan: {listed}; check their coordinates and crs, or raise "
            "city.snap_limit_m",
            ids=far["demand_id"].tolist(),
        )
    cols = (
        DEMAND_COLUMNS
        + stream_columns(config.streams)
        + ["kg_day", "walk_node", "snap_m", "offset_m", "snap_ok", "geometry"]
    )
    return gpd.GeoDataFrame(out[cols], geometry="geometry", crs="EPSG:4326")


def estimate_demand(city: City, scenario: Scenario) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Run the demand stage as the scenario says.

    Parameters
    ----------
    city
        The loaded city.
    scenario
        The scenario.

    Returns
    -------
    tuple
        The demand points layer and the demand areas (compound polygons) or None.
    """
    config = scenario.demand
    if scenario.rural is not None:
        from netplan.villages import estimate_villages  # rural scenarios: villages are the demand points

        points, areas = estimate_villages(city, scenario), None
    elif config.source == "file":
        assert config.file is not None
        path = scenario.resolve(config.file.path)
        assert path is not None
        points, areas = demand_from_file(city, config.file, path, config.persons_per_household)
        if config.osm.max_households_per_point is not None:
            points = split_table_rows(points, areas, city.crs, config.osm.max_households_per_point)
    else:
        points, areas = demand_from_osm(city, config)
    return finish_demand(points, config, city, scenario.city.snap_limit_m), areas
