"""The scenario's ``locate`` keys on a real city: ``unreachable``, ``nearest_next_tier`` and the HiGHS backend.

Helsinki's demand and candidate sites are built once without siting (seconds); each test then sites them with one
key changed. Distances the tests rely on are recomputed with networkx on the city's own graphs, not with the
matrices the model was built from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from netplan.errors import InputDataError
from netplan.evaluate import check_network
from netplan.locate import base as locate_base
from netplan.locate import network_model
from netplan.locate.tiers import build_model, locate_network, tier_candidates
from netplan.pipeline import build_plan
from netplan.plan import Plan
from netplan.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unsited() -> Plan:
    """Helsinki's city, demand and candidate sites, not sited (locate off, so routing is skipped too)."""
    scenario = load_scenario(ROOT / "scenarios" / "helsinki.yaml")
    scenario.locate.enabled = False
    scenario.outputs.map = False
    return build_plan(scenario)


def _scenario(plan: Plan, **locate: object) -> Scenario:
    scenario = plan.scenario.model_copy(deep=True)
    scenario.locate.enabled = True
    for key, value in locate.items():
        setattr(scenario.locate, key, value)
    return scenario


def _nearest_walk_m(plan: Plan, demand_rows, sites) -> np.ndarray:
    """Walking metres from each demand point to its nearest site: networkx Dijkstra from a source joined to every site
    node by an edge as long as that site's own offset, on the reversed walk graph (demand -> site)."""
    graph = nx.DiGraph()
    for u, v, length in plan.city.walk.graph.edges(data="length"):
        if not graph.has_edge(v, u) or graph[v][u]["length"] > length:
            graph.add_edge(v, u, length=length)
    source = "sites"
    for node, offset in zip(sites["walk_node"], sites["walk_offset_m"], strict=True):
        if not graph.has_edge(source, node) or graph[source][node]["length"] > offset:
            graph.add_edge(source, node, length=float(offset))
    dist = nx.single_source_dijkstra_path_length(graph, source, weight="length")
    nodes = demand_rows["walk_node"].to_numpy()
    return np.array([dist.get(n, np.inf) for n in nodes]) + demand_rows["offset_m"].to_numpy()


def test_unreachable_error_stops_and_exclude_leaves_out_exactly_the_unreachable(unsited: Plan) -> None:
    radius = 60.0  # shorter than many residents' walk to any candidate
    strict = _scenario(unsited, unreachable="error")
    strict.tiers[0].radius_m = radius
    with pytest.raises(InputDataError, match="cannot be sited"):
        build_model(unsited.city, unsited.demand, unsited.sites, strict)

    lenient = _scenario(unsited, unreachable="exclude")
    lenient.tiers[0].radius_m = radius
    _, candidates, excluded = build_model(unsited.city, unsited.demand, unsited.sites, lenient)
    demand = unsited.demand
    active = demand[(demand["kg_day"] > 0) & demand["snap_ok"]]
    nearest = _nearest_walk_m(unsited, active, candidates[0])
    far = set(active.loc[nearest > radius + 1e-6, "demand_id"].astype(int))
    assert far, "the radius should leave some demand out of reach"
    assert set(excluded) == far

    located = locate_network(unsited.city, demand, unsited.sites, lenient)
    first = located.assignments[located.assignments["level"] == "demand-t1"]
    assert not far & set(first["from_id"].astype(int))
    assert set(first["from_id"].astype(int)) == set(active["demand_id"].astype(int)) - far


def test_nearest_next_tier_keeps_only_the_k_nearest_links(unsited: Plan) -> None:
    k = 20  # on Helsinki fewer links per site leave no feasible network (10: none found, 5: proven none)
    scenario = _scenario(unsited, nearest_next_tier=k)
    model, candidates, _ = build_model(unsited.city, unsited.demand, unsited.sites, scenario)
    unlimited, _, _ = build_model(unsited.city, unsited.demand, unsited.sites, _scenario(unsited))
    cut = 0
    for level in range(1, len(scenario.tiers)):
        arcs, every = model.arcs[level], unlimited.arcs[level]
        for src in np.unique(every.src):
            reach = np.sort(every.distance[every.src == src])
            kept = np.sort(arcs.distance[arcs.src == src])
            # the k shortest links within the tier's road radius, no more
            assert len(kept) == min(k, len(reach))
            assert np.allclose(kept, reach[: len(kept)])
            cut += len(reach) > k
    assert cut, "the key should have cut some links on this city"
    assert all(len(c) for c in candidates)
    located = locate_network(unsited.city, unsited.demand, unsited.sites, scenario)
    fac = located.facilities
    for level in range(1, len(scenario.tiers)):
        arcs, lower = model.arcs[level], candidates[level - 1]
        allowed = {
            (int(lower["site_id"].iloc[s]), int(candidates[level]["site_id"].iloc[d]))
            for s, d in zip(arcs.src, arcs.dst, strict=True)
        }
        sent = fac[fac["tier"] == level]
        assert {(int(s), int(n)) for s, n in zip(sent["site_id"], sent["next_site_id"], strict=True)} <= allowed


def test_highs_backend_sites_a_network_that_passes_the_independent_check(unsited, monkeypatch) -> None:
    backends: list[str] = []
    real = locate_base.run_mip

    def recording(solver, backend, *args, **kwargs):
        backends.append(backend)
        return real(solver, backend, *args, **kwargs)

    monkeypatch.setattr(network_model, "run_mip", recording)
    scenario = _scenario(unsited, engine="mip", backend="HIGHS", mode="both")
    located = locate_network(unsited.city, unsited.demand, unsited.sites, scenario)
    assert backends and set(backends) == {"HIGHS"}
    assert located.solution.status in ("optimal", "feasible")
    plan = dataclasses.replace(
        unsited,
        scenario=scenario,
        facilities=located.facilities,
        assignments=located.assignments,
        excluded_demand=located.excluded,
        location={**{mode: sol.summary() for mode, sol in located.solutions.items()}, "chosen": located.chosen},
    )
    costs = check_network(plan)  # raises on any violation, including a cost that differs from HiGHS's objective
    assert costs["total"] == pytest.approx(located.solution.objective, rel=1e-6)
    assert len(tier_candidates(unsited.sites, 1)) >= (located.facilities["tier"] == 1).sum() > 0


def test_chengdu_4tier_scenario_sites_four_linked_tiers(chengdu) -> None:
    """The shipped four-tier scenario (Taiyuan model) on the Chengdu extract, sited and checked; routing is left to
    the three-tier run's tests to keep this one to the location stage (under a minute)."""
    scenario = load_scenario(ROOT / "scenarios" / "chengdu_4tier.yaml")
    scenario.route.enabled = False
    scenario.outputs.map = False
    plan = build_plan(scenario, city=chengdu)  # its evaluate stage runs check_network on the sited network
    fac = plan.facilities
    counts = {t.tier: int((fac["tier"] == t.tier).sum()) for t in scenario.tiers}
    assert min(counts.values()) >= 1 and counts[4] == 1 and counts[3] <= 4
    for t in (1, 2, 3):
        assert plan.kpi("network", f"tier{t}_open") == counts[t]
        lower, upper = fac[fac["tier"] == t], fac[fac["tier"] == t + 1]
        assert set(lower["next_site_id"]) <= set(upper["site_id"])  # every site sends on to an open next-tier site
    active = plan.demand[(plan.demand["kg_day"] > 0) & plan.demand["snap_ok"]]
    served = active[~active["demand_id"].isin(plan.excluded_demand)]
    top = fac[fac["tier"] == 4]
    assert float(top["load_kg_day"].sum()) == pytest.approx(float(served["kg_day"].sum()), rel=1e-6)
    assert float(top["load_kg_day"].iloc[0]) <= scenario.tier(4).capacity_kg_day
    costs = check_network(plan)
    assert costs["total"] == pytest.approx(plan.kpi("cost", "total"))
