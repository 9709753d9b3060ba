"""What a truck ban costs, and what permits buy back: the default city's collection day under three rules.

Sites the Chengdu network once (the default scenario), then routes its
collection day (transfer-station rounds and hauls) for:

1. no ban;
2. the scenario's ban (trucks >= 2 t inside the first ring road, 07-09 and
   17-19), no truck holds a permit;
3. the same ban, half of the 4.5 t trucks hold permits;
4. a stricter ban, 06:00-22:00, no permits.

Each result has passed netplan's schedule simulator; on top of that this
script re-checks every leg of every permit-less truck edge by edge against
the zone polygon with its own geometry test, and every stop served inside
the zone against the banned hours. Prints one table and writes
``benchmarks/results/ban_case.md``.

Run: ``python benchmarks/ban_case_bench.py`` (about 3-5 minutes).
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import shapely

from netplan.pipeline import build_plan
from netplan.route.bans import zone_geometry
from netplan.route.collection import route_day
from netplan.scenario import Scenario, load_scenario, parse_interval

ROOT = Path(__file__).resolve().parents[1]


def variants(base: Scenario) -> list[tuple[str, Scenario]]:
    out = []
    none = base.model_copy(deep=True)
    none.restrictions = []
    out.append(("no ban", none))
    out.append(("ban 07-09 & 17-19, no permits", base.model_copy(deep=True)))
    half = base.model_copy(deep=True)
    fleet = []
    for v in half.fleet:
        if v.role == "collection" and v.weight_t >= 2.0 and not v.permit and v.count > 1:
            permitted = v.model_copy(update={"name": v.name + "（通行证）", "count": v.count // 2, "permit": True})
            fleet += [v.model_copy(update={"count": v.count - v.count // 2}), permitted]
        else:
            fleet.append(v)
    half.fleet = fleet
    out.append(("same ban, permits for half the trucks", half))
    strict = base.model_copy(deep=True)
    strict.restrictions = [r.model_copy(update={"hours": ["06:00-22:00"]}) for r in strict.restrictions]
    out.append(("ban 06-22, no permits", strict))
    return out


def independent_check(scenario: Scenario, day, graph) -> tuple[int, int, int]:
    """Count banned-edge traversals and in-zone services in banned hours, for bound vehicles (own geometry test).

    Returns (edges checked in zones, edge violations, service violations).
    """
    checked = edge_bad = service_bad = 0
    for r in scenario.restrictions:
        zone = zone_geometry(r.zone.model_dump(), scenario.base_dir) if r.zone else None
        if zone is None:
            continue
        hours = [tuple(60 * m for m in parse_interval(h)) for h in r.hours]
        bound = {v.name for v in scenario.fleet if not v.permit and v.weight_t >= r.min_weight_t}
        for item in day.problems:
            problem, schedule = item["problem"], item["schedule"]
            for _, leg in schedule.legs.iterrows():
                if leg["vehicle"].split("#")[0] not in bound:
                    continue
                for (u, v), t0 in zip(zip(leg["path"], leg["path"][1:]), leg["enter_s"]):
                    data = min(graph.get_edge_data(u, v).values(), key=lambda d: d["travel_time"])
                    geom = data.get("geometry") or shapely.LineString(
                        [(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])]
                    )
                    if geom.intersects(zone):
                        checked += 1
                        t1 = t0 + data["travel_time"]
                        edge_bad += any(t0 < b and a < t1 for a, b in hours)
            visits = schedule.visits
            for _, visit in visits[(visits["kind"] == "stop") & visits["vehicle_type"].isin(bound)].iterrows():
                loc = problem.locations[visit["location"]]
                node = graph.nodes[loc.node]
                if zone.contains(shapely.Point(node["x"], node["y"])):
                    service_bad += any(visit["start_s"] < b and a < visit["end_s"] for a, b in hours)
    return checked, edge_bad, service_bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "chengdu.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ban_case.md"))
    args = parser.parse_args()
    base = load_scenario(args.scenario)
    sited = base.model_copy(deep=True)
    sited.route.enabled = False
    began = time.perf_counter()
    plan = build_plan(sited)
    site_s = time.perf_counter() - began
    graph = plan.city.network("drive").graph
    rows = []
    for label, scenario in variants(base):
        began = time.perf_counter()
        day = route_day(plan.city, plan.facilities, scenario)
        seconds = time.perf_counter() - began
        s = day.summary
        collect = s[~s["depot"].str.endswith("(hauls)")]
        checked, edge_bad, service_bad = independent_check(scenario, day, graph)
        in_zone = sum(1 for item in day.problems for st in item["problem"].stops if st.forbidden)
        rows.append(
            {
                "rule": label,
                "vehicles": int(s["vehicles"].sum()),
                "collection vehicles": int(collect["vehicles"].sum()),
                "trips": int(s["trips"].sum()),
                "km": round(float(s["km"].sum()), 1),
                "vehicle-hours": round(float(s["vehicle_hours"].sum()), 1),
                "dropped": int(s["dropped"].sum()),
                "stops barred in some hours": in_zone,
                "zone edges re-checked": checked,
                "violations (edges/services)": f"{edge_bad}/{service_bad}",
                "route s": round(seconds, 1),
            }
        )
        print(rows[-1], flush=True)
    head = list(rows[0])
    lines = [
        f"Ban case on the default city, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"engine {base.route.engine}, {base.route.max_iterations} iterations per problem (seed {base.seed}); "
        f"siting took {site_s:.0f} s. Every plan passed netplan's schedule simulator; the last columns re-check "
        "every permit-less truck leg edge by edge against the zone polygon (own geometry test).",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    lines += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
