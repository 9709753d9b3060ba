"""The evaluate stage: independent checks, KPIs and coverage metrics of a plan.

- :mod:`~netplan.evaluate.check`: the sited network re-checked on the road graphs (``check_network``);
- :mod:`~netplan.evaluate.kpis`: the KPI table (``evaluate_plan`` fills ``plan.kpis``);
- :mod:`~netplan.evaluate.metrics`: coverage metrics of any set of facilities (``netplan evaluate``, batch);
- :mod:`~netplan.evaluate.access`: walking distances and covered shares shared by the above.
"""

from netplan.evaluate.access import covered_share, reached_share, walk_distances, within_radius
from netplan.evaluate.check import PlanCheckError, check_network
from netplan.evaluate.kpis import evaluate_plan
from netplan.evaluate.metrics import (
    DEFAULT_RADII_M,
    access_metrics,
    coverage_metrics,
    gini,
    metrics_table,
    nearest,
    plan_facilities,
    plan_metrics,
    route_metrics,
    tier_metrics,
    weighted_quantile,
)

__all__ = [
    "DEFAULT_RADII_M",
    "PlanCheckError",
    "access_metrics",
    "check_network",
    "coverage_metrics",
    "covered_share",
    "evaluate_plan",
    "gini",
    "metrics_table",
    "nearest",
    "plan_facilities",
    "plan_metrics",
    "reached_share",
    "route_metrics",
    "tier_metrics",
    "walk_distances",
    "weighted_quantile",
    "within_radius",
]
