"""Rural networks (``rural:`` scenarios): the county's access network, sites and agricultural streams.

A rural scenario is the ordinary pipeline with four differences, all made here:

* **Road distances for every tier** (:func:`rural_city`). Villagers bring recyclables by tricycle,
  or the point is served at the village; nobody walks kilometres. The county's access network is
  therefore its road network: the city's ``walk`` network is replaced by the drive network, so
  siting, the independent check and the coverage KPIs measure tier 1 by road as well.
* **Sites** (:func:`rural_sites`): the usual candidates (land use, site files with supply
  co-operative outlets as existing sites, a collection-point candidate at every village's road)
  plus a township-station candidate at every ``town``/``village`` (``rural.villages.station_places``).
* **The village collection round** (:func:`round_facilities`): collection points are emptied every
  ``rural.round_days`` days, so the routed day carries that many days of recyclables.
* **Agricultural streams** (:func:`plan_rural`): farmland straw goes to straw storage centres sited
  with the capacitated facility-location model (capacity t/season, maximum haul by road), with the
  harvest-window plan and a routed harvest day (:mod:`netplan.route.straw`); pesticide packaging
  goes village point -> county storage and transfer station (the tier-3 site) on a licensed vehicle
  every ``rural.pesticide.period_days``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan import diagnostics
from netplan.city import City
from netplan.errors import InputDataError
from netplan.farmland import farmland_blocks, farmland_streams, nearest_village
from netplan.locate.base import network_costs
from netplan.locate.cflp import CapacitatedLocation
from netplan.route.straw import DepotRoutes, harvest_day, harvest_plan, route_from_depot
from netplan.scenario import Scenario, Vehicle
from netplan.sites import candidate_sites
from netplan.villages import village_places

DEFAULT_PESTICIDE_VEHICLE = Vehicle(
    name="农药包装废弃物专用车",
    count=1,
    capacity_kg=1500,
    weight_t=3.5,
    shift="08:00-17:00",
    per_km_cost=2.0,
    per_hour_cost=45,
    permit=True,
)
"""The licensed hazardous-waste van used when ``rural.pesticide.vehicle`` is not given (an assumption)."""


def rural_city(city: City) -> City:
    """The county with its road network as the access network (tier-1 distances by road).

    Parameters
    ----------
    city
        The loaded county.

    Returns
    -------
    City
        A copy whose ``walk`` network is the drive network (same object, so matrices are computed once).
    """
    reports = dict(city.reports)
    if "drive" in reports:
        reports["walk"] = dataclasses.replace(reports["drive"], mode="walk")
    return dataclasses.replace(city, walk=city.drive, reports=reports)


def _snap_into(sites: gpd.GeoDataFrame, extra: gpd.GeoDataFrame, city: City, scenario: Scenario) -> gpd.GeoDataFrame:
    """Append site rows (WGS-84, with ``tiers`` lists) in the sites layer's format."""
    extra = extra.copy()
    tiers = extra.pop("tiers")
    extra["tiers"] = tiers.map(lambda ts: ",".join(str(t) for t in ts))
    for t in range(1, 5):
        extra[f"tier{t}"] = tiers.map(lambda ts, t=t: t in ts) & (t <= len(scenario.tiers))
    for tier in scenario.tiers:
        t = tier.tier
        extra[f"cap_t{t}"] = np.where(extra[f"tier{t}"], tier.capacity_kg_day, np.nan)
        extra[f"cost_t{t}"] = np.where(extra[f"tier{t}"], tier.open_cost, np.nan)
    extra["existing"] = False
    extra.insert(0, "site_id", np.arange(len(sites), len(sites) + len(extra), dtype=np.int64))
    limit = scenario.city.snap_limit_m
    walk, drive = city.walk.snap(extra, limit), city.drive.snap(extra, limit)
    extra["walk_node"], extra["walk_snap_m"], extra["walk_offset_m"] = walk.node, walk.snap_m, walk.offset_m
    extra["drive_node"], extra["drive_snap_m"], extra["drive_offset_m"] = drive.node, drive.snap_m, drive.offset_m
    extra["snap_ok"] = walk.ok & drive.ok
    for col in sites.columns:
        if col not in extra.columns:
            extra[col] = None
    merged = pd.concat([sites, extra[sites.columns]], ignore_index=True)
    merged["osm_id"] = pd.array(merged["osm_id"], dtype="Int64")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")


def rural_sites(city: City, scenario: Scenario, demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Candidate and existing sites of a county network.

    Parameters
    ----------
    city
        The county (from :func:`rural_city`).
    scenario
        A scenario with a ``rural`` section.
    demand
        The village points.

    Returns
    -------
    geopandas.GeoDataFrame
        The sites layer (as :func:`netplan.sites.candidate_sites`), with township-station candidates at the
        villages of the types in ``rural.villages.station_places`` and a collection point that must open
        (status ``existing_fixed``, source ``village_point``) at every village of the types in
        ``rural.point_per_village`` (one point per administrative village).
    """
    assert scenario.rural is not None
    rural = scenario.rural
    sites = candidate_sites(city, scenario, None, demand)
    places = village_places(demand).to_numpy()
    ok = demand["snap_ok"].to_numpy()
    own = np.isin(places, rural.point_per_village) & ok
    station = np.isin(places, rural.villages.station_places) & ok
    pick = own | station
    if not pick.any():
        return sites
    chosen = demand[pick]
    # a village with its own point gets a fixed tier-1 site (forced open) and, if it may, a separate station candidate
    fixed = gpd.GeoDataFrame(
        {
            "name": chosen["name"].to_numpy()[own[pick]],
            "source": "village_point",
            "landuse": None,
            "status": "existing_fixed",
            "tiers": [[1]] * int(own.sum()),
            "osm_id": chosen["osm_id"].to_numpy()[own[pick]],
            "fusion": False,
        },
        geometry=chosen.geometry.to_numpy()[own[pick]],
        crs="EPSG:4326",
    )
    stations = gpd.GeoDataFrame(
        {
            "name": chosen["name"].to_numpy()[station[pick]],
            "source": "village",
            "landuse": None,
            "status": "candidate",
            "tiers": [[2] if o else [1, 2] for o in own[pick][station[pick]]],
            "osm_id": chosen["osm_id"].to_numpy()[station[pick]],
            "fusion": False,
        },
        geometry=chosen.geometry.to_numpy()[station[pick]],
        crs="EPSG:4326",
    )
    extra = pd.concat([f for f in (fixed, stations) if len(f)], ignore_index=True)
    return _snap_into(sites, gpd.GeoDataFrame(extra, geometry="geometry", crs="EPSG:4326"), city, scenario)


def round_facilities(facilities: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The facilities as the routed day sees them: a rural round carries ``round_days`` days of recyclables."""
    if scenario.rural is None or facilities is None:
        return facilities
    out = facilities.copy()
    out["load_kg_day"] = out["load_kg_day"] * scenario.rural.round_days
    return out


@dataclass
class RuralResult:
    """The agricultural streams of a county plan.

    Attributes
    ----------
    blocks
        Field blocks (polygons) with area, straw, packaging and film, their village, straw centre and haul.
    straw_centres
        Open straw storage centres (points) with straw t/season, capacity and utilisation.
    harvest
        The harvest-window plan per centre (:func:`netplan.route.straw.harvest_plan`).
    pesticide
        Per county storage and transfer station: villages, kg/yr, kg per collection.
    routes
        Trips of the harvest day (``stream = straw``) and the pesticide round (``stream = pesticide``).
    schedule, summary
        Every visit and one row per routed depot.
    figures
        Totals (straw collectable / collected, packaging, film, ...).
    """

    blocks: gpd.GeoDataFrame
    straw_centres: gpd.GeoDataFrame
    harvest: pd.DataFrame
    pesticide: pd.DataFrame
    routes: gpd.GeoDataFrame
    schedule: pd.DataFrame
    summary: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """GeoPackage layers of the rural streams."""
        return {"farmland": self.blocks, "straw_centres": self.straw_centres, "rural_routes": self.routes}


def site_straw_centres(
    city: City, scenario: Scenario, blocks: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Site straw storage centres: capacitated facility location over road haul distances.

    Every snapped site is a candidate. A block farther than ``max_haul_m`` by road from every candidate is
    left out and reported. The objective is opening cost plus straw tonne-km x ``haul_cost_per_t_km``.

    Returns
    -------
    tuple
        The blocks with ``centre`` (site id, null if left out) and ``haul_m``, and the open centres.
    """
    assert scenario.rural is not None
    cfg = scenario.rural.straw
    blocks = blocks.copy()
    blocks["centre"] = pd.array([None] * len(blocks), dtype="Int64")
    blocks["haul_m"] = np.nan
    cand = sites[sites["snap_ok"]].sort_values("site_id").reset_index(drop=True)
    pts = gpd.GeoDataFrame(
        blocks[["block_id"]],
        geometry=blocks.to_crs(city.crs).representative_point().to_crs("EPSG:4326").values,
        crs="EPSG:4326",
    )
    snapped = city.drive.snap(pts, scenario.city.snap_limit_m)
    pts["drive_node"], pts["drive_offset_m"] = snapped.node, snapped.offset_m
    blocks["drive_node"] = snapped.node
    dist = network_costs(city, pts, cand, "drive", "length", limit=cfg.max_haul_m)
    straw = blocks["straw_t"].to_numpy(dtype=float)
    reach = np.isfinite(dist).any(axis=1) & snapped.ok & (straw > 0)
    lost = blocks.loc[~reach & (straw > 0), "block_id"].tolist()
    if lost:
        diagnostics.warn(
            "rural",
            "straw_beyond_haul",
            f"{len(lost)} field block(s) ({straw[~reach].sum():.0f} t straw/season) lie beyond "
            f"{cfg.max_haul_m:g} m by road from every candidate straw centre, or far from any road: "
            "not collected",
            ids=lost,
        )
    rows = np.flatnonzero(reach)
    if rows.size == 0:
        return blocks, cand.iloc[0:0].assign(straw_t=[], capacity_t=[], utilisation=[])
    cost = straw[rows, None] * dist[rows] / 1000.0 * cfg.haul_cost_per_t_km
    try:
        model = CapacitatedLocation.from_cost_matrix(
            cost,
            straw[rows],
            np.full(len(cand), cfg.capacity_t_season),
            np.full(len(cand), cfg.open_cost),
            single_source=True,
            max_open=cfg.max_count,
            name="straw centres",
        )
    except ValueError as exc:
        raise InputDataError(f"straw storage centres cannot be sited: {exc}", where="rural.straw") from None
    result = model.solve(time_limit=scenario.locate.time_limit_s, seed=scenario.seed)
    if result.status not in ("optimal", "feasible"):
        raise InputDataError(f"no feasible straw-centre layout found ({result.status})", where="rural.straw")
    if result.status != "optimal":
        diagnostics.warn(
            "rural",
            "straw_centres_not_optimal",
            f"the straw-centre layout is {result.status}, not proven optimal (gap {result.gap:.2%}) "
            f"within locate.time_limit_s = {scenario.locate.time_limit_s:g} s",
        )
    chosen = np.asarray(result.assignment, dtype=np.int64)
    blocks.loc[blocks.index[rows], "centre"] = cand["site_id"].to_numpy()[chosen]
    blocks.loc[blocks.index[rows], "haul_m"] = dist[rows, chosen]
    open_sites = cand[np.asarray(result.open, dtype=bool)].copy()
    load = blocks[blocks["centre"].notna()].groupby("centre")["straw_t"].sum()
    open_sites["straw_t"] = open_sites["site_id"].map(load).fillna(0.0).to_numpy()
    open_sites["capacity_t"] = cfg.capacity_t_season
    open_sites["utilisation"] = open_sites["straw_t"] / cfg.capacity_t_season
    label = "秸秆收储中心" if scenario.lang == "zh" else "straw centre"
    open_sites["name"] = [f"{label} {int(s)}" for s in open_sites["site_id"]]
    keep = ["site_id", "name", "straw_t", "capacity_t", "utilisation", "drive_node", "drive_offset_m", "geometry"]
    centres = gpd.GeoDataFrame(open_sites[keep], geometry="geometry", crs="EPSG:4326")
    centres.attrs["locate"] = {
        "status": result.status,
        "objective": float(result.objective),
        "gap": float(result.gap),
        "solver": result.solver,
    }
    return blocks, centres


def _pesticide(
    city: City, scenario: Scenario, plan: Any, blocks: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, list[DepotRoutes]]:
    """Pesticide packaging per collection point and the periodic round from each county station."""
    assert scenario.rural is not None
    cfg = scenario.rural.pesticide
    fac, asg = plan.facilities, plan.assignments
    if fac is None or asg is None or not cfg.enabled:
        return pd.DataFrame(), []
    top = len(scenario.tiers)
    county = min(3, top)
    points = fac[fac["tier"] == 1].copy()
    stations = fac[fac["tier"] == county]
    by_village = blocks.groupby("village")["pesticide_kg_yr"].sum()
    first = asg[asg["level"] == "demand-t1"]
    point_of = dict(zip(first["from_id"], first["to_id"]))
    per_point = pd.Series(0.0, index=points["site_id"].to_numpy())
    unserved = []
    for village, kg in by_village.items():
        site = point_of.get(int(village))
        if site is None or site not in per_point.index:
            unserved.append(int(village))
        else:
            per_point[site] += kg
    if unserved:
        diagnostics.warn(
            "rural",
            "pesticide_unserved",
            f"{len(unserved)} village(s) with farmland have no collection point: their pesticide "
            f"packaging ({by_village.loc[unserved].sum():.1f} kg/yr) is not collected",
            ids=unserved,
        )
    # tier-1 -> tier-2 -> tier-3 links give each point its county station
    next_of = {int(s): int(n) for s, n in zip(fac["site_id"], fac["next_site_id"]) if pd.notna(n)}

    def station_of(site: int | None) -> int | None:
        for _ in range(county - 1):
            site = None if site is None else next_of.get(site)
        return site

    points["station"] = pd.array([station_of(int(s)) for s in points["site_id"]], dtype="Int64")
    points["pesticide_kg_yr"] = per_point.reindex(points["site_id"]).to_numpy()
    points["load_kg_day"] = points["pesticide_kg_yr"] * cfg.period_days / 365.0
    vehicle = cfg.vehicle or DEFAULT_PESTICIDE_VEHICLE
    rows, routed = [], []
    label = "县级集中收贮转运站" if scenario.lang == "zh" else "county storage and transfer station"
    for _, station in stations.sort_values("site_id").iterrows():
        mine = points[(points["station"] == station["site_id"]) & (points["load_kg_day"] > 0)].copy()
        kg = float(mine["pesticide_kg_yr"].sum())
        rows.append(
            {
                "station": int(station["site_id"]),
                "points": len(mine),
                "kg_yr": kg,
                "kg_per_collection": kg * cfg.period_days / 365.0,
                "period_days": cfg.period_days,
            }
        )
        if mine.empty:
            continue
        unnamed = mine["name"].isna()
        mine.loc[unnamed, "name"] = [f"回收点 {int(s)}" for s in mine.loc[unnamed, "site_id"]]
        depot = station.copy()
        depot["name"] = f"{label} {int(station['site_id'])}"
        routed.append(
            route_from_depot(
                city,
                scenario,
                f"{depot['name']} (pesticide)",
                depot,
                mine,
                [(vehicle, vehicle.count)],
                service_min=scenario.route.service_min,
                service_min_per_t=scenario.route.service_min_per_t,
                turnaround_min=scenario.route.turnaround_min,
                required=True,
            )
        )
    return pd.DataFrame(rows), routed


def plan_rural(city: City, scenario: Scenario, plan: Any) -> RuralResult:
    """The agricultural streams of a county: farmland, straw centres and harvest plan, pesticide round.

    Parameters
    ----------
    city
        The county (from :func:`rural_city`).
    scenario
        A scenario with a ``rural`` section.
    plan
        The plan so far (demand, sites, sited network).

    Returns
    -------
    RuralResult
        Layers, tables and totals; ``plan.rural`` holds it.
    """
    assert scenario.rural is not None
    rural = scenario.rural
    blocks = farmland_streams(farmland_blocks(city, scenario), rural.farmland)
    if blocks.empty:
        diagnostics.warn("rural", "no_farmland", "no farmland blocks: no straw, pesticide packaging or film planned")
    blocks["village"] = nearest_village(blocks, plan.demand, city.crs) if len(blocks) else np.array([], dtype=np.int64)
    harvest = pd.DataFrame()
    centres = gpd.GeoDataFrame({"site_id": [], "geometry": []}, geometry="geometry", crs="EPSG:4326")
    routed: list[DepotRoutes] = []
    locate_info: dict[str, Any] = {}
    if rural.straw.enabled and len(blocks):
        blocks, centres = site_straw_centres(city, scenario, blocks, plan.sites)
        locate_info = centres.attrs.get("locate", {})
        served = blocks[blocks["centre"].notna()].rename(columns={"haul_m": "distance_m"})
        harvest = harvest_plan(served, rural.straw)
        if rural.straw.route_day and len(served):
            served_pts = gpd.GeoDataFrame(
                served.drop(columns="geometry"),
                geometry=served.to_crs(city.crs).representative_point().to_crs("EPSG:4326").values,
                crs="EPSG:4326",
            )
            routed += [
                dataclasses.replace(r, summary=dict(r.summary, stream="straw"))
                for r in harvest_day(city, scenario, centres, served_pts, harvest)
            ]
    pesticide, pest_routes = _pesticide(city, scenario, plan, blocks)
    routed += [dataclasses.replace(r, summary=dict(r.summary, stream="pesticide")) for r in pest_routes]
    lines = [dict(row, stream=r.summary["stream"]) for r in routed for row in r.routes]
    routes = (
        gpd.GeoDataFrame(lines, geometry="geometry", crs="EPSG:4326")
        if lines
        else gpd.GeoDataFrame({"stream": [], "geometry": []}, geometry="geometry", crs="EPSG:4326")
    )
    summary = pd.DataFrame([r.summary for r in routed])
    for r in routed:
        if r.summary["dropped"]:
            diagnostics.warn(
                "rural",
                "dropped_loads",
                f"{r.summary['depot']}: {r.summary['dropped']} load(s) left "
                "for another day by the routed day (raise the fleet or lengthen the shift)",
                count=int(r.summary["dropped"]),
            )
    schedule = pd.concat([r.schedule for r in routed], ignore_index=True) if routed else pd.DataFrame()
    figures = {
        "farmland_ha": float(blocks["area_ha"].sum()) if len(blocks) else 0.0,
        "straw_theoretical_t": float(blocks["straw_theoretical_t"].sum()) if len(blocks) else 0.0,
        "straw_collectable_t": float(blocks["straw_t"].sum()) if len(blocks) else 0.0,
        "pesticide_kg_yr": float(blocks["pesticide_kg_yr"].sum()) if len(blocks) else 0.0,
        "film_kg_yr": float(blocks["film_kg_yr"].sum()) if len(blocks) else 0.0,
    }
    figures.update({f"straw_locate_{k}": v for k, v in locate_info.items()})
    keep = [c for c in blocks.columns if c != "drive_node"]
    return RuralResult(
        gpd.GeoDataFrame(blocks[keep], geometry="geometry", crs="EPSG:4326"),
        centres,
        harvest,
        pesticide,
        routes,
        schedule,
        summary,
        figures,
    )
