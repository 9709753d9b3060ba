"""The plan: the one object that passes from stage to stage.

Each stage reads what earlier stages put into a :class:`Plan` and adds its
own part; outputs and maps are drawn from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from netplan.city import City
from netplan.diagnostics import RunWarning
from netplan.scenario import Scenario

if TYPE_CHECKING:  # pragma: no cover
    from netplan.render.page import NetplanMap
    from netplan.route.bookings import BookingPlan
    from netplan.rural import RuralResult


def kpi_value(kpis: pd.DataFrame | None, section: str, key: str) -> Any:
    """One value of a KPI table (``section, key, value, unit``), as :meth:`Plan.kpi` and the map's data read it.

    Raises
    ------
    KeyError
        When the KPIs are not computed yet or hold no such row.
    """
    if kpis is None:
        raise KeyError("KPIs not computed yet")
    row = kpis[(kpis["section"] == section) & (kpis["key"] == key)]
    if row.empty:
        raise KeyError(f"{section}.{key}")
    return row["value"].iloc[0]


@dataclass
class Plan:
    """A planning run's state and results.

    Attributes
    ----------
    scenario
        The validated scenario.
    city
        The loaded city (road networks, features).
    demand
        Demand points (WGS-84): households and kg/day per stream, snapping.
    demand_areas
        Polygons the demand points stand for (compounds), or None.
    sites
        Existing and candidate sites per tier (WGS-84).
    facilities
        Sited facilities per tier, once the locate stage has run.
    assignments
        Demand-to-facility and tier-to-tier assignments, once located.
    routes
        Vehicle routes, once the route stage has run: one row per vehicle
        trip (``vehicle``, ``vehicle_type``, ``depot``, ``trip``, ``stops``,
        ``load_kg``, ``km``, ``start``, ``end``, ``duration_h``), drawn along
        the roads.
    schedule
        Every visit of every route with its simulated times.
    routing
        Per routing problem (transfer station, hauls): stops, served,
        dropped, vehicles, trips, km, vehicle hours, engine.
    location
        Per location mode (``integrated``, ``bottom_up``): status,
        objective, bound, gap, time and cost parts; ``chosen`` names the one
        the facilities come from.
    excluded_demand
        Demand ids left out of the network as unreachable.
    kpis
        Key figures (``section, key, value, unit``), recomputed by the
        evaluate stage.
    timings
        Seconds spent per stage.
    bookings
        The door-to-door booking day (``(BookingPlan, open_slots)``, see
        :mod:`netplan.bookings`) when the scenario has a ``bookings:`` section.
    rural
        The agricultural streams of a rural scenario (:class:`netplan.rural.RuralResult`), else None.
    warnings
        Everything the run left out or doubts (excluded demand, dropped
        stops, cut-off graph parts, suspicious data, skipped stages), in the
        order the stages reported it; see :mod:`netplan.diagnostics`.
    """

    scenario: Scenario
    city: City
    demand: gpd.GeoDataFrame
    demand_areas: gpd.GeoDataFrame | None
    sites: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame | None = None
    assignments: gpd.GeoDataFrame | None = None
    routes: gpd.GeoDataFrame | None = None
    schedule: pd.DataFrame | None = None
    routing: pd.DataFrame | None = None
    location: dict[str, Any] = field(default_factory=dict)
    excluded_demand: list[int] = field(default_factory=list)
    kpis: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rural: RuralResult | None = None
    bookings: tuple[BookingPlan, pd.DataFrame] | None = None
    warnings: list[RunWarning] = field(default_factory=list)

    def kpi(self, section: str, key: str) -> Any:
        """Look up one KPI value (raises KeyError if absent)."""
        return kpi_value(self.kpis, section, key)

    def explore(
        self,
        *,
        lang: str | None = None,
        basemap: str | None = None,
        offline: bool | None = None,
        tianditu_token: str | None = None,
    ) -> NetplanMap:
        """The plan map as a :class:`folium.Map`: shown inline in a notebook, extensible with folium layers.

        Parameters
        ----------
        lang
            ``"zh"`` or ``"en"`` (default: the scenario's).
        basemap
            ``osm``, ``amap`` (overlays shifted to GCJ-02), ``tianditu`` or ``none``
            (default: the scenario's ``outputs.basemap``).
        offline
            Request nothing from the network (forces ``basemap="none"``).
        tianditu_token
            Token for Tianditu tiles.

        Returns
        -------
        NetplanMap
            A :class:`folium.Map` (see :func:`netplan.render.plan_map`); add layers with
            ``gdf.explore(m=m)``, write it with ``m.save("map.html")``.
        """
        from netplan.render import plan_map

        return plan_map(self, lang=lang, basemap=basemap, offline=offline, tianditu_token=tianditu_token)
