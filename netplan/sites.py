"""Where facilities may go: existing facilities and candidate sites for every tier.

Sources, in order:

* **Existing facilities** in OSM: ``amenity=recycling`` (collection points;
  ``recycling_type=centre`` counts as a transfer station) and
  ``amenity=waste_transfer_station`` (transfer stations). The scenario decides
  whether they are kept open (``existing: keep``), may be closed
  (``closable``) or are ignored.
* **Candidate land** from OSM, by land-use class: ``amenity=parking`` and
  ``landuse=retail/commercial/industrial/railway``, each eligible for the
  tiers listed in ``sites.landuse_tiers`` (the policy puts these facilities on
  public-infrastructure land; a city's own land-use plan comes in as a user
  file).
* **Collection-point candidates** where residents pass: points on each
  compound's edge nearest to the street network (a gate proxy), and points
  every ``street_spacing_m`` along drivable streets within
  ``street_max_distance_m`` of a compound.
* **User files** (CSV or GeoPackage/GeoJSON) with a tiers column and
  optional status, capacity, opening cost and a two-network-fusion flag
  (the site coincides with a household-waste sorting point).

Every site carries eligibility per tier (``tier1`` ... ``tier4``), capacity and
opening cost per eligible tier (``cap_t<k>``, ``cost_t<k>``; the tier's
scenario defaults unless the user file overrides them), its status, and its
snapping to the walk and drive networks.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan import diagnostics
from netplan.city import City
from netplan.city.graph import main_highway
from netplan.demand import read_points
from netplan.errors import InputDataError
from netplan.evaluate.access import within_radius
from netplan.scenario import MAX_CAPACITY_KG_DAY, MAX_OPEN_COST, Scenario, SiteFile

SITE_STATUSES = ("candidate", "existing_fixed", "existing_closable")

_STREET_CLASSES = {"residential", "living_street", "unclassified", "tertiary", "tertiary_link", "service", "secondary"}
_DEDUP_M = 10.0


def _existing_status(policy: str) -> str | None:
    return {"keep": "existing_fixed", "closable": "existing_closable", "ignore": None}[policy]


def _osm_sites(city: City, scenario: Scenario) -> list[dict]:
    rows: list[dict] = []
    if city.features is None:
        return rows
    feats = city.features.to_crs(city.crs)
    status = _existing_status(scenario.sites.existing)
    if status is not None:
        for kind, tiers in (("recycling", [1]), ("waste_transfer_station", [2])):
            for _, f in feats[feats["amenity"] == kind].iterrows():
                rows.append(
                    {
                        "name": f["name"] if isinstance(f["name"], str) else None,
                        "source": f"osm:{kind}",
                        "landuse": None,
                        "status": status,
                        "tiers": tiers,
                        "osm_id": int(f["osm_id"]),
                        "fusion": False,
                        "geometry": f.geometry.representative_point(),
                    }
                )
    landuse_tiers = scenario.sites.landuse_tiers
    candidates = []
    if "parking" in landuse_tiers:
        candidates.append(("parking", feats[feats["amenity"] == "parking"]))
    for cls in landuse_tiers:
        if cls != "parking":
            candidates.append((cls, feats[feats["landuse"] == cls]))
    for cls, frame in candidates:
        for _, f in frame.iterrows():
            rows.append(
                {
                    "name": f["name"] if isinstance(f["name"], str) else None,
                    "source": f"osm:landuse:{cls}",
                    "landuse": cls,
                    "status": "candidate",
                    "tiers": list(landuse_tiers[cls]),
                    "osm_id": int(f["osm_id"]),
                    "fusion": False,
                    "geometry": f.geometry.representative_point(),
                }
            )
    return rows


def _compound_edge_points(
    city: City, areas: gpd.GeoDataFrame, per_compound: int, households_per_point: float | None, fusion: bool = False
) -> list[dict]:
    """Points on each compound's boundary nearest to a drivable street, spread apart.

    A compound gets ``per_compound`` points, or one per demand part when it
    was split (see ``demand.osm.max_households_per_point``), since a large
    compound has several gates.
    """
    if per_compound == 0 or areas is None or areas.empty:
        return []
    streets = city.drive.edges().geometry.to_numpy()
    tree = shapely.STRtree(streets)
    rows = []
    for _, comp in areas.to_crs(city.crs).iterrows():
        wanted = per_compound
        if households_per_point and "households" in comp and np.isfinite(comp["households"]):
            wanted = max(per_compound, int(np.ceil(comp["households"] / households_per_point)))
        boundary = comp.geometry.boundary
        if boundary.is_empty:
            continue
        n = max(int(boundary.length // 25), 4)
        samples = shapely.line_interpolate_point(boundary, np.linspace(0, boundary.length, n, endpoint=False))
        samples = np.asarray(samples).ravel() if isinstance(samples, np.ndarray) else np.array([samples])
        _, dist = tree.query_nearest(samples, return_distance=True, all_matches=False)
        picked: list[shapely.Point] = []
        spacing = min(80.0, boundary.length / (2 * wanted + 1))
        for i in np.argsort(dist, kind="stable"):
            p = samples[i]
            if all(p.distance(q) >= spacing for q in picked):
                picked.append(p)
            if len(picked) == wanted:
                break
        for p in picked:
            rows.append(
                {
                    "name": f"{comp['name']} 边" if isinstance(comp.get("name"), str) else None,
                    "source": "compound_edge",
                    "landuse": "residential",
                    "status": "candidate",
                    "tiers": [1],
                    "osm_id": None,
                    # a compound's gate is where its household-waste sorting point stands (two-network fusion)
                    "fusion": fusion,
                    "geometry": p,
                }
            )
    return rows


def _street_points(city: City, areas: gpd.GeoDataFrame | None, spacing: float, max_distance: float) -> list[dict]:
    """Points every ``spacing`` metres along local streets near residential areas."""
    if areas is None or areas.empty:
        return []
    edges = city.drive.edges()
    hw = edges["highway"].map(main_highway)
    local = edges[hw.isin(_STREET_CLASSES)]
    near = shapely.unary_union(areas.to_crs(city.crs).geometry.buffer(max_distance).to_numpy())
    local = local[local.intersects(near)]
    rows, seen = [], set()
    for geom in local.geometry:
        length = geom.length
        if length < spacing / 2:
            continue
        for d in np.arange(spacing / 2, length, spacing):
            p = geom.interpolate(d)
            if not near.contains(p):
                continue
            key = (round(p.x / (spacing / 2)), round(p.y / (spacing / 2)))
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "name": None,
                    "source": "street",
                    "landuse": None,
                    "status": "candidate",
                    "tiers": [1],
                    "osm_id": None,
                    "fusion": False,
                    "geometry": p,
                }
            )
    return rows


def _parse_tiers(value: object, path, where: str) -> list[int]:
    text = str(value).replace(";", ",").replace(" ", ",")
    try:
        tiers = sorted({int(float(t)) for t in text.split(",") if t})
    except ValueError:
        raise InputDataError(f"expected tier numbers such as '1' or '2,3', got {value!r}", path, where) from None
    if not tiers or any(t < 1 or t > 4 for t in tiers):
        raise InputDataError(f"tiers must be numbers 1 to 4, got {value!r}", path, where)
    return tiers


_STATUS_WORDS = {
    "candidate": "candidate",
    "new": "candidate",
    "existing": "existing_fixed",
    "keep": "existing_fixed",
    "fixed": "existing_fixed",
    "existing_fixed": "existing_fixed",
    "closable": "existing_closable",
    "existing_closable": "existing_closable",
}

_TRUE = {"1", "true", "yes", "y", "t", "是"}


def sites_from_file(city: City | None, spec: SiteFile, path, key: str = "sites.files[0]") -> list[dict]:
    """Read sites from a user table.

    Parameters
    ----------
    city
        For the extent check (None skips it).
    spec
        Column names and CRS of the file.
    path
        Resolved path.
    key
        The file's key path in the scenario, for a datum warning.

    Returns
    -------
    list of dict
        One record per site (projected later).
    """
    attrs, points, _, offset = read_points(spec, path, city, datum_check=("sites", f"{key}.crs"))
    if spec.tiers not in attrs.columns:
        raise InputDataError(
            f"column {spec.tiers!r} (tiers) not found; the table has columns {list(attrs.columns)}", path
        )
    rows = []
    for i, (rec, pt) in enumerate(zip(attrs.to_dict("records"), points)):
        where = f"row {i + offset}"
        status = "candidate"
        if spec.status and spec.status in attrs.columns and pd.notna(rec[spec.status]):
            word = str(rec[spec.status]).strip().lower()
            if word not in _STATUS_WORDS:
                raise InputDataError(
                    f"unknown status {rec[spec.status]!r}; expected one of {sorted(_STATUS_WORDS)}",
                    path,
                    f"{where}, column {spec.status!r}",
                )
            status = _STATUS_WORDS[word]
        record = {
            "name": rec.get(spec.name) if spec.name and pd.notna(rec.get(spec.name)) else None,
            "source": "file",
            "landuse": None,
            "status": status,
            "tiers": _parse_tiers(rec[spec.tiers], path, f"{where}, column {spec.tiers!r}"),
            "osm_id": None,
            "fusion": bool(spec.fusion and str(rec.get(spec.fusion, "")).strip().lower() in _TRUE),
            "geometry": pt,
        }
        for key, col in (("capacity", spec.capacity), ("open_cost", spec.open_cost)):
            if col:
                if col not in attrs.columns:
                    raise InputDataError(f"column {col!r} ({key}) not found; columns are {list(attrs.columns)}", path)
                value = pd.to_numeric(pd.Series([rec[col]]), errors="coerce").iloc[0]
                upper = MAX_CAPACITY_KG_DAY if key == "capacity" else MAX_OPEN_COST
                lower_ok = value > 0 if key == "capacity" else value >= 0
                if pd.isna(value) or not np.isfinite(value) or not lower_ok or value > upper:
                    sign = ">" if key == "capacity" else ">="
                    raise InputDataError(
                        f"expected a finite number {sign} 0 and <= {upper:,.0f}, got {rec[col]!r}",
                        path,
                        f"{where}, column {col!r}",
                    )
                record[key] = float(value)
        rows.append(record)
    return rows


def _reach_fillers(city: City, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, radius_m: float) -> list[dict]:
    """Collection-point candidates for demand points that no candidate serves within the radius, and gates.

    Each is placed at the walk-network node the demand point is attached to
    (the street corner nearest to it), so every demand point within the
    radius of its own node can be covered. A table's compound split into k
    parts (``demand.osm.max_households_per_point``) also gets candidates at
    its k nearest street corners, as an OSM compound gets k edge points: a
    large compound has several gates, and its parts could otherwise all
    depend on the one candidate beside it.
    """
    ok = demand[demand["snap_ok"]]
    t1 = sites[sites["tier1"] & sites["snap_ok"]]
    if ok.empty:
        return []
    lost = ok[~within_radius(city.walk, ok, t1, radius_m)]
    nodes = list(pd.unique(lost["walk_node"]))
    split = ok[(ok["parts"] > 1) & (ok["source"] == "file")]
    for (node, parts), _ in split.groupby(["walk_node", "parts"], sort=True):
        nodes.extend(_nearest_nodes(city.walk.graph, int(node), int(parts), radius_m / 2))
    graph = city.walk.graph
    rows = []
    for node in pd.unique(pd.Series(nodes, dtype="int64")):
        pt = (
            gpd.GeoSeries([shapely.Point(graph.nodes[node]["x"], graph.nodes[node]["y"])], crs="EPSG:4326")
            .to_crs(city.crs)
            .iloc[0]
        )
        rows.append(
            {
                "name": None,
                "source": "street_at_demand",
                "landuse": None,
                "status": "candidate",
                "tiers": [1],
                "osm_id": None,
                "fusion": False,
                "geometry": pt,
            }
        )
    return rows


def _nearest_nodes(graph, node: int, k: int, cutoff_m: float) -> list[int]:
    """The ``k`` walk nodes nearest to ``node`` on the network within ``cutoff_m`` (itself first); ties by id."""
    import networkx as nx

    near = nx.single_source_dijkstra_path_length(graph, node, cutoff=cutoff_m, weight="length")
    return [n for n, _ in sorted(near.items(), key=lambda item: (item[1], item[0]))[:k]]


def candidate_sites(
    city: City, scenario: Scenario, areas: gpd.GeoDataFrame | None, demand: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Run the sites stage.

    Parameters
    ----------
    city
        The loaded city.
    scenario
        The scenario (site rules and tier defaults).
    areas
        Residential compound polygons from the demand stage (for
        collection-point candidates), or None.
    demand
        Demand points; when given, any of them left without a tier-1
        candidate within the walking radius gets one on its street.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site in WGS-84, with ``tier1``..``tier4`` eligibility,
        ``cap_t<k>``/``cost_t<k>`` for eligible tiers, status and snapping.
    """
    cfg = scenario.sites
    rows = _osm_sites(city, scenario)
    projected = gpd.GeoDataFrame(rows, geometry="geometry", crs=city.crs) if rows else None
    per_point = scenario.demand.osm.max_households_per_point if scenario.demand.source == "osm" else None
    generated = _compound_edge_points(
        city, areas, cfg.compound_edge_points, per_point, cfg.compound_edge_fusion
    ) + _street_points(city, areas, cfg.street_spacing_m, cfg.street_max_distance_m)
    parts = [
        p
        for p in (projected, gpd.GeoDataFrame(generated, geometry="geometry", crs=city.crs) if generated else None)
        if p is not None
    ]
    for i, spec in enumerate(cfg.files):
        path = scenario.resolve(spec.path)
        file_rows = sites_from_file(city, spec, path, f"sites.files[{i}]")
        if file_rows:
            parts.append(gpd.GeoDataFrame(file_rows, geometry="geometry", crs="EPSG:4326").to_crs(city.crs))
    if not parts:
        raise InputDataError(
            "no candidate sites: the city has no usable OSM land use and no site files are given", where="sites"
        )
    sites = pd.concat(parts, ignore_index=True)
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=city.crs)
    sites = _drop_duplicates(sites)
    n_tiers = len(scenario.tiers)
    for t in range(1, 5):
        sites[f"tier{t}"] = sites["tiers"].map(lambda ts, t=t: t in ts) & (t <= n_tiers)
    sites = sites[sites[[f"tier{t}" for t in range(1, n_tiers + 1)]].any(axis=1)].reset_index(drop=True)
    for tier in scenario.tiers:
        t = tier.tier
        cap = sites["capacity"] if "capacity" in sites else pd.Series(np.nan, index=sites.index)
        cost = sites["open_cost"] if "open_cost" in sites else pd.Series(np.nan, index=sites.index)
        base_cost = cost.fillna(tier.open_cost)
        base_cost = np.where(sites["fusion"], base_cost * (1 - tier.fusion_discount), base_cost)
        sites[f"cap_t{t}"] = np.where(sites[f"tier{t}"], cap.fillna(tier.capacity_kg_day), np.nan)
        sites[f"cost_t{t}"] = np.where(sites[f"tier{t}"], base_cost, np.nan)
    sites["tiers"] = sites["tiers"].map(lambda ts: ",".join(str(t) for t in ts))
    sites["existing"] = sites["status"] != "candidate"
    sites = sites.drop(columns=[c for c in ("capacity", "open_cost") if c in sites.columns]).to_crs("EPSG:4326")
    sites.insert(0, "site_id", np.arange(len(sites), dtype=np.int64))
    limit = scenario.city.snap_limit_m
    sites = _snap_sites(city, sites, limit, [t.tier for t in scenario.tiers])
    if demand is not None and "tier1" in sites:
        fillers = _reach_fillers(city, demand, sites, scenario.tier(1).radius_m)
        if fillers:
            extra = gpd.GeoDataFrame(fillers, geometry="geometry", crs=city.crs).to_crs("EPSG:4326")
            extra["tiers"] = "1"
            for t in range(1, 5):
                extra[f"tier{t}"] = t == 1
            extra["cap_t1"] = scenario.tier(1).capacity_kg_day
            extra["cost_t1"] = scenario.tier(1).open_cost
            for tier in scenario.tiers[1:]:
                extra[f"cap_t{tier.tier}"] = np.nan
                extra[f"cost_t{tier.tier}"] = np.nan
            extra["existing"] = False
            extra.insert(0, "site_id", np.arange(len(sites), len(sites) + len(extra), dtype=np.int64))
            extra = _snap_sites(city, extra, limit, [t.tier for t in scenario.tiers], report=False)
            sites = pd.concat([sites, extra[sites.columns]], ignore_index=True)
    sites["osm_id"] = pd.array(sites["osm_id"], dtype="Int64")
    geometry = sites.pop("geometry")
    return gpd.GeoDataFrame(sites, geometry=geometry, crs="EPSG:4326")


TIER_NAMES = {
    1: ("回收点", "collection point"),
    2: ("中转站", "transfer station"),
    3: ("分拣中心", "sorting centre"),
    4: ("市级中心", "city centre"),
}
"""The vocabulary of ../shared/DESIGN.md: tier -> (中文, English)."""


def name_unnamed(facilities: pd.DataFrame) -> pd.DataFrame:
    """Give every facility without a name one generated from its tier and site id, in both languages.

    ``中转站 5 / transfer station 5``: the same name then appears in the console, the CSVs, the GeoPackage and the
    map, and a facility keeps its OSM or site-file name where it has one.

    Parameters
    ----------
    facilities
        A facilities layer (``tier``, ``site_id``, ``name``).

    Returns
    -------
    pandas.DataFrame
        A copy with no empty ``name``.
    """
    out = facilities.copy()
    if out.empty:
        return out
    text = out["name"].astype("string").str.strip()
    unnamed = out["name"].isna() | text.isna() | text.isin(["", "nan", "None"])
    out["name"] = out["name"].astype(object)
    words = [TIER_NAMES.get(int(t), ("站点", "site")) for t in out.loc[unnamed, "tier"]]
    out.loc[unnamed, "name"] = [
        f"{zh} {int(i)} / {en} {int(i)}" for (zh, en), i in zip(words, out.loc[unnamed, "site_id"], strict=True)
    ]
    return out


def opened_status(facilities: pd.DataFrame) -> pd.DataFrame:
    """Mark opened sites ``new`` or ``existing`` (``status``); the site's own status stays in ``site_status``.

    Parameters
    ----------
    facilities
        A facilities layer whose ``status`` is still the site's (``candidate``, ``existing_fixed``, ...).

    Returns
    -------
    pandas.DataFrame
        A copy with ``status`` in ``{"new", "existing"}`` and ``site_status`` beside it.
    """
    out = facilities.copy()
    if out.empty or "status" not in out.columns:
        return out
    out["site_status"] = out["status"]
    out["status"] = np.where(out["status"].astype(str) == "candidate", "new", "existing")
    return out


def _snap_sites(
    city: City, sites: gpd.GeoDataFrame, limit: float, tiers: list[int], *, report: bool = True
) -> gpd.GeoDataFrame:
    """Attach sites to both networks and decide, per site, whether it can be used.

    A collection point (tier 1) must stand near a walkable way (residents walk
    to it) and a truck road (it is emptied by truck). A site of a higher tier
    is reached only by truck, so the truck network alone decides: a transfer
    station on an expressway's service road far from any footway stays a
    candidate. A site eligible for tier 1 and higher tiers that is far from
    every footway keeps its higher tiers only. ``snap_ok`` is then true for a
    site usable for every tier it is still eligible for; what is given up is
    reported.
    """
    walk, drive = city.walk.snap(sites, limit), city.drive.snap(sites, limit)
    sites["walk_node"], sites["walk_snap_m"], sites["walk_offset_m"] = walk.node, walk.snap_m, walk.offset_m
    sites["drive_node"], sites["drive_snap_m"], sites["drive_offset_m"] = drive.node, drive.snap_m, drive.offset_m
    upper = [f"tier{t}" for t in tiers if t > 1]
    higher = sites[upper].any(axis=1).to_numpy() if upper else np.zeros(len(sites), bool)
    tier1 = sites["tier1"].to_numpy(dtype=bool)
    demote = tier1 & ~walk.ok & drive.ok & higher
    if demote.any():
        sites.loc[demote, "tier1"] = False
        sites.loc[demote, "tiers"] = sites.loc[demote, "tiers"].map(
            lambda ts: ",".join(t for t in str(ts).split(",") if t.strip() != "1")
        )
        for col in ("cap_t1", "cost_t1"):
            if col in sites:
                sites.loc[demote, col] = np.nan
        if report:
            ids = sites.loc[demote, "site_id"].tolist()
            diagnostics.warn(
                "sites",
                "sites.tier1_far_from_footway",
                f"{len(ids)} site(s) eligible for collection points stand more than {limit:g} m from any "
                f"walkable way but on the truck network: they stay candidates for the higher tiers only "
                f"({_site_names(sites[demote])})",
                ids=ids,
            )
    sites["snap_ok"] = drive.ok & (walk.ok | ~sites["tier1"].to_numpy(dtype=bool))
    lost = ~sites["snap_ok"].to_numpy()
    if report and lost.any():
        far = sites[lost]
        existing = int((far["status"] != "candidate").sum())
        diagnostics.warn(
            "sites",
            "sites.beyond_snap_limit",
            f"{int(lost.sum())} site(s) ({existing} of them existing facilities) stand more than "
            f"{limit:g} m from the truck network (collection points: or from any walkable way) and are "
            "not used "
            f"({_site_names(far)}); check their coordinates and crs, or raise city.snap_limit_m",
            ids=far["site_id"].tolist(),
        )
    return sites


def _site_names(frame: pd.DataFrame, limit: int = 5) -> str:
    """A few sites in words: their name, else their id and source."""
    words = [
        str(n) if isinstance(n, str) and n else f"site {i} ({src})"
        for i, n, src in zip(frame["site_id"], frame["name"], frame["source"])
    ]
    return ", ".join(words[:limit]) + (f" and {len(words) - limit} more" if len(words) > limit else "")


def _drop_duplicates(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Merge sites closer than 10 m: existing facilities and user rows win over generated ones."""
    rank = sites["status"].map({"existing_fixed": 0, "existing_closable": 1, "candidate": 2}) * 10 + sites[
        "source"
    ].map(lambda s: 0 if s == "file" else (1 if s.startswith("osm:") else 2))
    sites = sites.assign(_rank=rank).sort_values("_rank", kind="stable")
    grid: dict[tuple[int, int], list[shapely.Point]] = {}
    keep = []
    for idx, geom in zip(sites.index, sites.geometry):
        cx, cy = int(geom.x // _DEDUP_M), int(geom.y // _DEDUP_M)
        near = [p for dx in (-1, 0, 1) for dy in (-1, 0, 1) for p in grid.get((cx + dx, cy + dy), [])]
        if any(geom.distance(p) < _DEDUP_M for p in near):
            continue
        grid.setdefault((cx, cy), []).append(geom)
        keep.append(idx)
    return sites.loc[sorted(keep)].drop(columns="_rank")
