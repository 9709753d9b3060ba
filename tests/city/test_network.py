"""Travel matrices against networkx, and snapping."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point

from netplan.city.network import Network


def _nx_lengths(G: nx.MultiDiGraph, source: int, weight: str) -> dict[int, float]:
    return nx.single_source_dijkstra_path_length(G, source, weight=weight)


@pytest.mark.parametrize("mode, weight", [("drive", "length"), ("drive", "travel_time"), ("walk", "length")])
def test_matrix_equals_networkx(chengdu, mode, weight):
    net = chengdu.network(mode)
    rng = np.random.default_rng(7)
    origins = rng.choice(net.nodes, 25, replace=False)
    destinations = rng.choice(net.nodes, 40, replace=False)
    D = net.matrix(origins, destinations, weight)
    assert D.shape == (25, 40)
    for i, o in enumerate(origins):
        ref = _nx_lengths(net.graph, int(o), weight)
        expected = np.array([ref.get(int(d), np.inf) for d in destinations])
        np.testing.assert_allclose(D[i], expected, rtol=1e-9, atol=1e-6)


def test_matrix_from_the_larger_side_runs_reversed(chengdu):
    net = chengdu.drive
    rng = np.random.default_rng(3)
    many = rng.choice(net.nodes, 300, replace=False)
    few = rng.choice(net.nodes, 5, replace=False)
    forward = net.matrix(few, many)
    backward = net.matrix(many, few)
    ref = np.array([[_nx_lengths(net.graph, int(o), "length").get(int(d), np.inf) for d in few] for o in many[:20]])
    np.testing.assert_allclose(backward[:20], ref, rtol=1e-9)
    # The drive graph has one-way streets: the two directions must differ somewhere.
    assert not np.allclose(forward, backward.T)


def test_bounded_search_keeps_close_pairs_exact(chengdu):
    net = chengdu.walk
    rng = np.random.default_rng(11)
    nodes = rng.choice(net.nodes, 60, replace=False)
    full = net.matrix(nodes, nodes)
    bounded = net.matrix(nodes, nodes, limit=800.0)
    near = full <= 800.0
    np.testing.assert_allclose(bounded[near], full[near])
    assert np.isinf(bounded[~near]).all()
    assert near.sum() > len(nodes)  # more than the diagonal


def test_repeated_nodes_and_memo(chengdu, monkeypatch):
    net = chengdu.drive
    # an empty memo of its own: the session's city may already hold the 64 entries it keeps (test order, xdist)
    monkeypatch.setattr(net, "_memo", {})
    a = net.nodes[[0, 5, 0, 9]]
    D = net.matrix(a, a)
    assert D.shape == (4, 4)
    np.testing.assert_array_equal(D[0], D[2])
    assert np.all(np.diag(D) == 0)
    assert net.matrix(a, a) is D


def test_unknown_node_is_an_error(chengdu):
    with pytest.raises(KeyError, match="not in the drive graph"):
        chengdu.drive.matrix([-12345], chengdu.drive.nodes[:2])


def test_snap_reports_distance_and_flags_far_points(chengdu):
    net = chengdu.walk
    node = int(net.nodes[100])
    x, y = net.graph.nodes[node]["x"], net.graph.nodes[node]["y"]
    far = (104.30, 30.90)  # some 20 km north-east of the extract
    pts = gpd.GeoSeries([Point(x, y), Point(x + 0.0005, y), Point(*far)], crs="EPSG:4326")
    snapped = net.snap(pts, limit_m=500)
    assert snapped.node[0] == node or snapped.snap_m[0] < 1.0
    assert snapped.snap_m[0] < 1.0
    assert 0 <= snapped.snap_m[1] <= 50  # 0.0005 deg of longitude is about 48 m here
    assert snapped.ok.tolist() == [True, True, False]
    assert snapped.snap_m[2] > 10_000
    assert (snapped.offset_m >= 0).all()


def test_network_on_a_hand_made_graph():
    G = nx.MultiDiGraph(crs="epsg:4326")
    for n, x in enumerate([0.0, 0.001, 0.002]):
        G.add_node(n, x=x, y=0.0)
    G.add_edge(0, 1, length=100.0, travel_time=10.0)
    G.add_edge(0, 1, length=80.0, travel_time=20.0)  # parallel edge: the shorter length wins for length
    G.add_edge(1, 2, length=100.0, travel_time=10.0)
    G.add_edge(2, 0, length=500.0, travel_time=50.0)
    net = Network(G, "EPSG:32631", "drive")
    np.testing.assert_allclose(net.matrix([0, 1, 2], [0, 1, 2]), [[0, 80, 180], [600, 0, 100], [500, 580, 0]])
    np.testing.assert_allclose(net.matrix([0], [2], weight="travel_time"), [[20.0]])


@pytest.mark.parametrize("mode", ["drive", "walk"])
def test_nearest_point_is_the_row_minimum_of_the_point_matrix(chengdu, mode):
    net = chengdu.network(mode)
    rng = np.random.default_rng(5)
    origins, o_off = rng.choice(net.nodes, 400), rng.uniform(0, 60, 400)
    sites, s_off = rng.choice(net.nodes, 30), rng.uniform(0, 60, 30)
    s_off[:3] = 0.0  # a site on its node: the virtual edge's floor must not show in the cost
    sites[4], s_off[4] = sites[5], s_off[5] + 10.0  # two sites on one node: the nearer wins
    dense = net.point_matrix(origins, o_off, sites, s_off, "length")
    owner, cost = net.nearest_point(origins, o_off, sites, s_off)
    best = dense.min(axis=1)
    np.testing.assert_allclose(cost, best, rtol=1e-12, atol=1e-9)
    reached = np.isfinite(best)
    # the chosen site costs the minimum (ties may pick another site of the same cost)
    np.testing.assert_allclose(dense[np.flatnonzero(reached), owner[reached]], best[reached], rtol=1e-12, atol=1e-9)
    assert (owner[~reached] == -1).all()
    assert 4 not in set(owner.tolist())


def test_nearest_point_follows_one_way_streets():
    G = nx.MultiDiGraph(crs="epsg:4326")
    for n, x in enumerate([0.0, 0.001, 0.002]):
        G.add_node(n, x=x, y=0.0)
    G.add_edge(0, 1, length=100.0)
    G.add_edge(1, 2, length=100.0)
    G.add_edge(2, 0, length=500.0)
    net = Network(G, "EPSG:32631", "drive")
    # from node 1 the site at node 2 is 100 m ahead, the site at node 0 is 600 m round the loop
    owner, cost = net.nearest_point(
        np.array([1, 0, 2]), np.array([5.0, 0.0, 0.0]), np.array([0, 2]), np.array([0.0, 1.0])
    )
    assert owner.tolist() == [1, 0, 1]
    np.testing.assert_allclose(cost, [106.0, 0.0, 1.0])
    empty = net.nearest_point(np.array([1]), np.array([0.0]), np.array([], dtype=int), np.array([]))
    assert empty[0].tolist() == [-1] and np.isinf(empty[1]).all()
