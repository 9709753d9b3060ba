"""Rural KPIs (``section = rural``), recomputed from the plan's layers and the road graph.

Villages served within ``rural.served_within_m`` by road, straw collected per season and its share
of the collectable total, straw-centre utilisation, the harvest-window fleet, pesticide packaging
per county station and truck km per tonne. Labels are given in Chinese and English in README
"Rural networks".
"""

from __future__ import annotations

import numpy as np

from netplan.locate.base import network_costs
from netplan.plan import Plan

Row = tuple[str, str, object, str]


def rural_kpis(plan: Plan) -> list[Row]:
    """The rural rows of the KPI table.

    Parameters
    ----------
    plan
        A plan of a scenario with a ``rural`` section (``plan.rural`` set by the rural stage).

    Returns
    -------
    list of tuple
        ``(section, key, value, unit)`` rows; empty for urban plans.
    """
    sc, rural = plan.scenario, plan.rural
    if sc.rural is None or rural is None:
        return []
    rows: list[Row] = []
    add = rows.append
    demand = plan.demand
    add(("rural", "villages", len(demand), "villages"))
    add(("rural", "round_days", sc.rural.round_days, "days"))
    if plan.facilities is not None and len(demand):
        points = plan.facilities[plan.facilities["tier"] == 1]
        dist = network_costs(plan.city, demand, points, "drive", "length", limit=sc.rural.served_within_m)
        served = np.isfinite(dist).any(axis=1) if dist.shape[1] else np.zeros(len(demand), dtype=bool)
        add(("rural", "served_within_m", sc.rural.served_within_m, "m"))
        add(("rural", "villages_served_share", float(served.mean()), "share"))
        add(
            (
                "rural",
                "households_served_share",
                float(demand["households"].to_numpy()[served].sum() / max(demand["households"].sum(), 1e-9)),
                "share",
            )
        )
    figures = rural.figures
    blocks = rural.blocks
    add(("rural", "farmland_ha", figures["farmland_ha"], "ha"))
    add(("rural", "straw_theoretical_t", figures["straw_theoretical_t"], "t/season"))
    add(("rural", "straw_collectable_t", figures["straw_collectable_t"], "t/season"))
    collected = float(blocks.loc[blocks["centre"].notna(), "straw_t"].sum()) if "centre" in blocks else 0.0
    add(("rural", "straw_collected_t", collected, "t/season"))
    total = figures["straw_collectable_t"]
    add(("rural", "straw_collected_share", collected / total if total > 0 else 0.0, "share"))
    for key in ("status", "gap", "solver"):
        if f"straw_locate_{key}" in figures:
            add(("rural", f"straw_locate_{key}", figures[f"straw_locate_{key}"], "share" if key == "gap" else ""))
    centres = rural.straw_centres
    add(("rural", "straw_centres", len(centres), "sites"))
    if len(centres):
        add(("rural", "straw_centre_utilisation_mean", float(centres["utilisation"].mean()), "share"))
        add(("rural", "straw_centre_utilisation_max", float(centres["utilisation"].max()), "share"))
    harvest = rural.harvest
    if len(harvest):
        add(("rural", "harvest_window_days", int(harvest["window_days"].iloc[0]), "days"))
        add(("rural", "harvest_trips", int(harvest["trips"].sum()), "trips"))
        add(("rural", "harvest_vehicle_days", float(harvest["vehicle_days"].sum()), "vehicle-days"))
        add(("rural", "harvest_fleet", int(harvest["fleet"].sum()), "vehicles"))
        add(("rural", "harvest_balers", int(harvest["balers"].sum()), "balers"))
        add(("rural", "straw_truck_km_per_t", float(harvest["truck_km"].sum() / max(collected, 1e-9)), "km/t"))
    add(("rural", "pesticide_kg_yr", figures["pesticide_kg_yr"], "kg/yr"))
    add(("rural", "film_kg_yr", figures["film_kg_yr"], "kg/yr"))
    for _, station in rural.pesticide.iterrows():
        add(("rural", f"pesticide_kg_yr_station_{int(station['station'])}", float(station["kg_yr"]), "kg/yr"))
    if plan.routes is not None and len(plan.routes):
        # every km of the round (collection and hauls) per tonne collected at the village points
        collecting = ~plan.routes["depot"].astype(str).str.endswith("(hauls)")
        tonnes = float(plan.routes.loc[collecting, "load_kg"].sum()) / 1000.0
        km = float(plan.routes["km"].sum())
        add(("rural", "round_truck_km_per_t", km / tonnes if tonnes > 0 else 0.0, "km/t"))
    for stream in ("straw", "pesticide"):
        mine = rural.routes[rural.routes["stream"] == stream] if len(rural.routes) else rural.routes
        add(("rural", f"{stream}_day_km", float(mine["km"].sum()) if len(mine) else 0.0, "km"))
    if len(rural.summary):
        add(("rural", "dropped_loads", int(rural.summary["dropped"].sum()), "stops"))
    return rows
