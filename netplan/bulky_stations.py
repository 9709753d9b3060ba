"""Siting bulky-waste stations (大件垃圾处理站) for the booking day's bulky m³, issue 18.

The stations form a network of their own: candidates (the booking depots, the scenario's candidate sites of one
tier, or a site table), demand = the m³ of the day's bulky bookings at their doors, a capacity in m³/day per station,
road distances on the city's drive network and a maximum road distance. The locate engine's capacitated facility
location model (:class:`netplan.locate.cflp.CapacitatedLocation`, single source: a booking is unloaded at one
station) chooses which stations to open and which bookings each takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan.city import City
from netplan.diagnostics import warn
from netplan.errors import ScenarioError
from netplan.locate.base import LocationResult, network_costs
from netplan.locate.cflp import CapacitatedLocation
from netplan.scenario import BookingsConfig, BulkyStationsConfig, Scenario

STAGE = "bookings"
STATION_COLUMNS = ["name", "source", "open", "load_m3_day", "capacity_m3_day", "utilisation", "bookings", "geometry"]
ASSIGNMENT_COLUMNS = ["booking_id", "stream", "m3", "station", "distance_m"]


@dataclass
class BulkyStations:
    """The sited bulky-waste stations.

    Attributes
    ----------
    stations
        One row per candidate (WGS-84): :data:`STATION_COLUMNS`; ``utilisation`` = load / capacity.
    assignments
        One row per booking sited (:data:`ASSIGNMENT_COLUMNS`): its station and road distance in metres.
    result
        The location model's result (status, objective in CNY/day, bound, solver).
    unreachable
        Ids of bookings farther than ``max_distance_m`` by road from every candidate (left out and warned).
    """

    stations: gpd.GeoDataFrame
    assignments: pd.DataFrame
    result: LocationResult
    unreachable: list[str] = field(default_factory=list)

    @property
    def open_stations(self) -> gpd.GeoDataFrame:
        """Only the stations opened."""
        return self.stations[self.stations["open"]].reset_index(drop=True)


def station_candidates(
    scenario: Scenario,
    city: City,
    *,
    config: BulkyStationsConfig,
    sites: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """The candidate stations the scenario names (``bookings.stations.candidates``).

    Parameters
    ----------
    scenario
        The scenario (booking depots, site rules, base folder).
    city
        The loaded city (extent checks; the sites stage for ``candidates: tier``).
    config
        The ``bookings.stations`` section.
    sites
        The sites stage's candidate sites, if already found (``candidates: tier``; found here otherwise).

    Returns
    -------
    geopandas.GeoDataFrame
        ``name`` and ``source`` columns, point geometry, WGS-84.
    """
    key = "bookings.stations"
    if config.candidates == "depots":
        from netplan.route.bookings import depot_points

        assert scenario.bookings is not None
        depots = scenario.bookings.depots
        points = depot_points(scenario.bookings).to_numpy()
        keep = [i for i, d in enumerate(depots) if config.depot_kinds is None or d.kind in config.depot_kinds]
        if not keep:
            raise ScenarioError(
                f"no booking depot has a kind in {config.depot_kinds}", scenario.file, f"{key}.depot_kinds"
            )
        return gpd.GeoDataFrame(
            {"name": [depots[i].name for i in keep], "source": "depot"}, geometry=points[keep], crs="EPSG:4326"
        )
    if config.candidates == "tier":
        if sites is None:
            from netplan.demand import estimate_demand
            from netplan.sites import candidate_sites

            demand, areas = estimate_demand(city, scenario)
            sites = candidate_sites(city, scenario, areas, demand)
        column = f"tier{config.tier}"
        chosen = sites[sites[column].astype(bool)] if column in sites.columns else sites.iloc[:0]
        if chosen.empty:
            raise ScenarioError(f"no candidate site may host tier {config.tier}", scenario.file, f"{key}.tier")
        names = chosen["name"] if "name" in chosen.columns else pd.Series([None] * len(chosen), index=chosen.index)
        ids = chosen["site_id"] if "site_id" in chosen.columns else pd.Series(range(len(chosen)), index=chosen.index)
        # site ids keep the labels unique (OSM names repeat); the name, when there is one, helps the reader
        labels = [f"site-{i} {n}" if isinstance(n, str) and n else f"site-{i}" for n, i in zip(names, ids)]
        return gpd.GeoDataFrame(
            {"name": labels, "source": f"tier{config.tier}"},
            geometry=chosen.geometry.to_crs("EPSG:4326").representative_point().to_numpy(),
            crs="EPSG:4326",
        )
    from netplan.demand import read_points

    assert config.file is not None
    path = scenario.resolve(config.file.path)
    assert path is not None
    attrs, points, _, _ = read_points(config.file, path, city, datum_check=(STAGE, f"{key}.file.crs"))
    if config.name_column in attrs.columns:
        labels = [str(v) if pd.notna(v) else f"{path.stem}-{i + 1}" for i, v in enumerate(attrs[config.name_column])]
    else:
        labels = [f"{path.stem}-{i + 1}" for i in range(len(attrs))]
    return gpd.GeoDataFrame({"name": labels, "source": "file"}, geometry=points.to_numpy(), crs="EPSG:4326")


def site_bulky_stations(
    city: City,
    bookings: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    config: BulkyStationsConfig,
    seed: int = 0,
    scenario_file: Any = None,
    snap_limit_m: float = 500.0,
) -> BulkyStations:
    """Open bulky-waste stations for the day's bulky bookings and assign each booking to one.

    Minimises ``open_cost_cny_day`` per open station plus ``cost_per_m3_km`` × m³ × road km from each booking to
    its station, with at most ``capacity_m3_day`` per station, every booking within ``max_distance_m`` of road of
    its station and at most ``max_count`` stations. Bookings beyond that distance from every candidate are left out
    and warned (``bookings.stations_unreachable``).

    Parameters
    ----------
    city
        The city; distances are shortest paths on its drive network (as the vans drive).
    bookings
        The day's bookings (:data:`netplan.bookings.BOOKING_COLUMNS`); those of ``config.streams`` are sited.
    candidates
        Candidate stations (``name``, point geometry), e.g. from :func:`station_candidates`.
    config
        The ``bookings.stations`` section.
    seed
        The MIP's seed (single-threaded: same seed, same answer).
    scenario_file
        The scenario's path, for error messages.
    snap_limit_m
        Candidates farther than this from every drive road are warned (``bookings.stations_off_road``): road
        distances start where they join the network, so the walk or yard track to it is not counted.

    Returns
    -------
    BulkyStations
        Stations with load and utilisation, the assignment of each booking, the model's result.

    Raises
    ------
    ScenarioError
        When the stations cannot take the day's m³ (capacity, ``max_count``) or no candidate is given.
    """
    key = "bookings.stations"
    if len(candidates) == 0:
        raise ScenarioError("there are no candidate stations", scenario_file, f"{key}.candidates")
    snapped = city.network("drive").snap(candidates, limit_m=snap_limit_m)
    if not snapped.ok.all():
        far = candidates["name"].astype(str).to_numpy()[~snapped.ok]
        warn(
            STAGE,
            "stations_off_road",
            f"{len(far)} candidate station(s) lie more than {snap_limit_m:g} m from the nearest drive road (up to "
            f"{snapped.snap_m.max():.0f} m); their road distances start at that road",
            ids=far,
        )
    bulky = bookings[bookings["stream"].isin(config.streams)].reset_index(drop=True)
    m3 = bulky["m3"].to_numpy(dtype=float)
    distance = network_costs(
        city, bulky.to_crs("EPSG:4326"), candidates.to_crs("EPSG:4326"), mode="drive", limit=config.max_distance_m
    )
    distance = np.where(distance <= config.max_distance_m, distance, np.inf)
    reach = np.isfinite(distance).any(axis=1) if len(bulky) else np.zeros(0, dtype=bool)
    unreachable = bulky.loc[~reach, "booking_id"].astype(str).tolist()
    if unreachable:
        warn(
            STAGE,
            "stations_unreachable",
            f"{len(unreachable)} bulky booking(s) lie farther than {config.max_distance_m:g} m by road from every "
            "candidate station: left out of the station siting",
            ids=unreachable,
        )
    served = bulky[reach].reset_index(drop=True)
    cost = distance[reach] / 1000.0 * m3[reach, None] * config.cost_per_m3_km
    m = len(candidates)
    capacity = np.full(m, config.capacity_m3_day)
    if len(served) == 0:
        result = LocationResult(
            "CFLP-single", "optimal", np.zeros(m, dtype=bool), np.zeros(0, dtype=np.int64), 0.0, 0.0, 0.0, 0.0, "none"
        )
    else:
        try:
            model = CapacitatedLocation.from_cost_matrix(
                cost,
                m3[reach],
                capacity,
                np.full(m, config.open_cost_cny_day),
                single_source=True,
                max_open=config.max_count,
                name="bulky-stations",
            )
        except ValueError as exc:
            raise ScenarioError(
                f"the bulky-waste stations cannot take the day's bookings: {exc}", scenario_file, key
            ) from None
        result = model.solve(time_limit=config.time_limit_s, seed=seed)
        if result.status in ("infeasible", "no_solution"):
            raise ScenarioError(
                f"no station set takes the day's {m3[reach].sum():.1f} m³ ({result.status})", scenario_file, key
            )
        if result.status != "optimal":
            warn(STAGE, "stations_gap", f"station siting stopped with a gap of {result.gap:.1%} (time limit)")
    assignment = np.asarray(result.assignment, dtype=np.int64)
    load = (
        np.bincount(assignment, weights=served["m3"].to_numpy(dtype=float), minlength=m) if len(served) else np.zeros(m)
    )
    count = np.bincount(assignment, minlength=m) if len(served) else np.zeros(m, dtype=np.int64)
    stations = gpd.GeoDataFrame(
        {
            "name": candidates["name"].astype(str).to_numpy(),
            "source": candidates["source"].to_numpy() if "source" in candidates.columns else "given",
            "open": np.asarray(result.open, dtype=bool),
            "load_m3_day": load.round(3),
            "capacity_m3_day": capacity,
            "utilisation": (load / capacity).round(4),
            "bookings": count.astype(np.int64),
        },
        geometry=candidates.to_crs("EPSG:4326").geometry.to_numpy(),
        crs="EPSG:4326",
    )[STATION_COLUMNS]
    assignments = pd.DataFrame(
        {
            "booking_id": served["booking_id"].astype(str),
            "stream": served["stream"],
            "m3": served["m3"].astype(float),
            "station": stations["name"].to_numpy()[assignment] if len(served) else [],
            "distance_m": distance[reach][np.arange(len(served)), assignment].round(1) if len(served) else [],
        },
        columns=ASSIGNMENT_COLUMNS,
    )
    return BulkyStations(stations, assignments, result, unreachable)


def plan_bulky_stations(
    scenario: Scenario,
    city: City,
    bookings: gpd.GeoDataFrame,
    *,
    sites: gpd.GeoDataFrame | None = None,
) -> BulkyStations | None:
    """The scenario's ``bookings.stations`` siting for a day's bookings; None when the section is absent."""
    config: BookingsConfig | None = scenario.bookings
    if config is None or config.stations is None:
        return None
    candidates = station_candidates(scenario, city, config=config.stations, sites=sites)
    return site_bulky_stations(
        city,
        bookings,
        candidates,
        config=config.stations,
        seed=scenario.seed,
        scenario_file=scenario.file,
        snap_limit_m=scenario.city.snap_limit_m,
    )


def write_bulky_stations(sited: BulkyStations, folder: str | Path) -> dict[str, Path]:
    """Write ``bulky_stations.csv`` (every candidate, with lon/lat) and ``bulky_assignments.csv`` into ``folder``.

    Returns
    -------
    dict
        Output name -> path.
    """
    from netplan.io import write_csv

    folder = Path(folder)
    flat = pd.DataFrame(sited.stations.drop(columns="geometry"))
    flat["lon"], flat["lat"] = sited.stations.geometry.x.round(6), sited.stations.geometry.y.round(6)
    return {
        "bulky_stations": write_csv(folder / "bulky_stations.csv", flat),
        "bulky_assignments": write_csv(folder / "bulky_assignments.csv", sited.assignments),
    }
