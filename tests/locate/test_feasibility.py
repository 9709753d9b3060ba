"""Checks before siting and the diagnosis of a network that cannot be sited (netplan/locate/feasibility.py)."""

from __future__ import annotations

import numpy as np

from netplan.locate.feasibility import check_single_sourcing, diagnose_infeasible, forward_room


def _arcs(pairs):
    src, dst = zip(*pairs) if pairs else ((), ())
    return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)


def label(i: int) -> str:
    return f"demand {i}"


def test_forward_room_follows_the_chain_by_hand():
    caps = [np.array([1000.0, 800.0, 500.0]), np.array([600.0, 5000.0]), np.array([700.0])]
    links = [_arcs([(0, 0), (1, 1)]), _arcs([(0, 0), (1, 0)])]  # tier-1 site 2 links nowhere
    room = forward_room(caps, links)
    assert room[2].tolist() == [700.0]
    assert room[1].tolist() == [600.0, 700.0]
    assert room[0].tolist() == [600.0, 700.0, 0.0]


def test_a_point_too_big_for_the_chain_names_the_tier_above():
    caps = [np.array([1000.0, 1000.0]), np.array([600.0]), np.array([5000.0])]
    links = [_arcs([(0, 0), (1, 0)]), _arcs([(0, 0)])]
    msg = check_single_sourcing(
        demand_kg=np.array([300.0, 900.0]),
        tier1_arcs=_arcs([(0, 0), (1, 1)]),
        capacities=caps,
        links=links,
        demand_label=label,
        radius_m=500,
    )
    assert msg is not None and msg.startswith("1 demand point(s) fit a collection point but no chain")
    assert "demand 1 (900 kg/day; at most 600 through any chain)" in msg and "demand 0" not in msg


def test_points_without_any_chain_are_left_to_the_model():
    caps = [np.array([1000.0]), np.array([5000.0]), np.array([5000.0])]
    links = [_arcs([(0, 0)]), _arcs([(0, 0)])]
    # point 1 reaches no collection point: the model names it ("no tier-1 candidate within the walking radius")
    assert (
        check_single_sourcing(
            demand_kg=np.array([100.0, 50.0]),
            tier1_arcs=_arcs([(0, 0)]),
            capacities=caps,
            links=links,
            demand_label=label,
            radius_m=500,
        )
        is None
    )


def test_points_that_cannot_share_get_a_matching():
    caps = [np.array([1000.0, 1000.0, 1000.0]), np.array([9000.0]), np.array([9000.0])]
    links = [_arcs([(0, 0), (1, 0), (2, 0)]), _arcs([(0, 0)])]
    arcs = _arcs([(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (3, 2)])
    demand = np.array([600.0, 700.0, 550.0, 900.0])
    msg = check_single_sourcing(
        demand_kg=demand, tier1_arcs=arcs, capacities=caps, links=links, demand_label=label, radius_m=500
    )
    # points 0-2 need three candidates and reach two; point 3 has its own
    assert msg is not None and "4 demand point(s)" in msg and "1 of them" in msg and "reach only 3" in msg
    # a third candidate in reach of point 2 solves it
    arcs = _arcs([(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)])
    demand[3] = 400.0
    assert (
        check_single_sourcing(
            demand_kg=demand, tier1_arcs=arcs, capacities=caps, links=links, demand_label=label, radius_m=500
        )
        is None
    )


def test_diagnosis_names_the_failed_tier_and_never_a_time_limit_when_proven():
    caps = [np.array([1000.0, 900.0]), np.array([3000.0, 2000.0]), np.array([9000.0])]
    common = dict(
        demand_kg=np.array([300.0, 500.0]),
        capacities=caps,
        demand_label=label,
        site_label=lambda t, j: f"t{t + 1}-site {j}",
        max_counts=[None, 1, None],
        limit_text="locate.node_limit = 1 and locate.time_limit_s = 30 s",
    )
    steps = [{"tier": 1, "status": "optimal"}, {"tier": 2, "status": "infeasible"}]
    msg = diagnose_infeasible(steps=steps, proven=True, **common)
    assert msg.startswith("proven infeasible at tier 2") and "at most 1 open" in msg
    assert "t1-site 0 (1,000 kg/day)" in msg and "tiers[1].capacity_kg_day" in msg
    assert "cannot help" in msg and "raise locate.time_limit_s" not in msg
    msg = diagnose_infeasible(steps=[{"tier": 1, "status": "infeasible"}], proven=True, **common)
    assert msg.startswith("proven infeasible at tier 1") and "demand 1 (500 kg/day), demand 0" in msg
    msg = diagnose_infeasible(steps=[{"tier": 1, "status": "no_solution"}], proven=False, **common)
    assert "none was proven impossible" in msg and "locate.node_limit = 1" in msg


def test_diagnosis_names_nearest_next_tier_where_links_can_be_the_cause():
    common = dict(
        demand_kg=np.array([300.0]),
        capacities=[np.array([1000.0]), np.array([3000.0])],
        demand_label=label,
        site_label=lambda t, j: f"t{t + 1}-site {j}",
        max_counts=[None, None],
        limit_text="locate.time_limit_s = 30 s",
        nearest_next_tier=5,
    )
    tier2 = [{"tier": 1, "status": "optimal"}, {"tier": 2, "status": "infeasible"}]
    proven = diagnose_infeasible(steps=tier2, proven=True, **common)
    assert "locate.nearest_next_tier = 5" in proven and proven.endswith("a longer time limit cannot help")
    assert "locate.nearest_next_tier = 5" in diagnose_infeasible(steps=tier2, proven=False, **common)
    # tier 1 (walking reach) has nothing to do with the links between tiers
    tier1 = [{"tier": 1, "status": "infeasible"}]
    assert "nearest_next_tier" not in diagnose_infeasible(steps=tier1, proven=True, **common)
    assert "nearest_next_tier" not in diagnose_infeasible(steps=tier1, proven=False, **common)
