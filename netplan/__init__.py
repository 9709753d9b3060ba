"""netplan: plan multi-tier recycling collection networks for cities.

The front door for notebooks and scripts::

    import netplan

    sc = netplan.load_scenario("scenarios/helsinki.yaml")   # validated; edits are validated too
    plan = netplan.build_plan(sc)                           # city -> demand -> sites -> locate -> route -> KPIs
    plan.facilities, plan.assignments, plan.kpis            # GeoDataFrames and tables
    m = plan.explore()                                      # a folium.Map (shown inline in a notebook)
    netplan.write_outputs(plan, "outputs/helsinki")         # GeoPackage, kpis.csv, manifest.json, map.html

Exports
-------
load_scenario, build_plan, write_outputs, Plan
    The pipeline (:mod:`netplan.scenario`, :mod:`netplan.pipeline`, :mod:`netplan.plan`).
plan_map, compare_map
    Maps as :class:`folium.Map` / folium figures (:mod:`netplan.render`).
LSCP, MCLP, PMedian, CapacitatedLocation, TieredNetwork
    Location models, usable on their own cost matrices (:mod:`netplan.locate`).
RoutingProblem, solve
    A routing problem and the engine dispatcher (:mod:`netplan.route`).
__version__
    The installed version (package metadata, else ``pyproject.toml`` of a checkout).

Everything but ``__version__`` is imported on first use, so ``import netplan`` stays fast
(the pipeline pulls in osmnx, geopandas and OR-Tools).
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only; "X as X" marks a re-export
    from netplan.locate.cflp import CapacitatedLocation as CapacitatedLocation
    from netplan.locate.coverage import LSCP as LSCP
    from netplan.locate.coverage import MCLP as MCLP
    from netplan.locate.network_model import TieredNetwork as TieredNetwork
    from netplan.locate.pmedian import PMedian as PMedian
    from netplan.pipeline import build_plan as build_plan
    from netplan.pipeline import write_outputs as write_outputs
    from netplan.plan import Plan as Plan
    from netplan.render.compare import compare_map as compare_map
    from netplan.render.plan_map import plan_map as plan_map  # in netplan.render, plan_map is also a submodule
    from netplan.route.engines import solve as solve
    from netplan.route.problem import RoutingProblem as RoutingProblem
    from netplan.scenario import Scenario as Scenario
    from netplan.scenario import load_scenario as load_scenario


def _version() -> str:
    """The installed distribution's version, else (a checkout that is not installed) ``pyproject.toml``'s."""
    try:
        return metadata.version("netplan")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(encoding="utf-8"), re.M)
        if match:
            return match.group(1)
    return "0+unknown"  # pragma: no cover - neither installed nor a checkout


__version__: str = _version()

_LAZY: dict[str, str] = {
    "load_scenario": "netplan.scenario",
    "Scenario": "netplan.scenario",
    "build_plan": "netplan.pipeline",
    "write_outputs": "netplan.pipeline",
    "Plan": "netplan.plan",
    "plan_map": "netplan.render",
    "compare_map": "netplan.render",
    "LSCP": "netplan.locate.coverage",
    "MCLP": "netplan.locate.coverage",
    "PMedian": "netplan.locate.pmedian",
    "CapacitatedLocation": "netplan.locate.cflp",
    "TieredNetwork": "netplan.locate.network_model",
    "RoutingProblem": "netplan.route.problem",
    "solve": "netplan.route.engines",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
