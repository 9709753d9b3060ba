"""The bad-input catalogue of issue 12 (the input part): every case exits 2 with one line naming the file and the key
or row, or leaves a warning with a stable code in the run's list.

Everything runs on a small hand-made city (a 1.2 km street grid written with the OSM builder) through the CLI in
process, so each case is what a user would see.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml
from osm_builder import OsmBuilder, lonlat, street_grid

from netplan.cli import main

GRID_M = 1200.0

# compounds of the toy city: name, x, y (metres in the builder's frame), households
COMPOUNDS = [
    ("甲", 160, 140),
    ("乙", 460, 170),
    ("丙", 760, 440),
    ("丁", 1040, 760),
    ("戊", 300, 900),
    ("己", 620, 1020),
    ("庚", 900, 160),
    ("辛", 160, 560),
]


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def demand_rows(households: int = 300) -> list[str]:
    """Rows ``name,lon,lat,households`` of the toy compounds."""
    return [f"{n},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},{households}" for n, x, y in COMPOUNDS]


@pytest.fixture(scope="module")
def city_file(tmp_path_factory) -> Path:
    b = OsmBuilder()
    street_grid(b, size_m=GRID_M, step_m=150.0)
    return b.write(tmp_path_factory.mktemp("grid") / "grid.osm")


def base_scenario(folder: Path, city_file: Path) -> dict:
    """A valid scenario on the toy city: demand and sites from tables, all three tiers, routing on."""
    _csv(folder / "compounds.csv", "name,lon,lat,households", demand_rows())
    sites = []
    for i, (x, y) in enumerate(
        [(75, 75), (375, 225), (675, 525), (975, 825), (225, 975), (525, 975), (825, 75), (75, 525), (525, 525)]
    ):
        sites.append(f"点{i},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},1")
    sites.append(f"中转A,{lonlat(600, 300)[0]:.7f},{lonlat(600, 300)[1]:.7f},2")
    sites.append(f"中转B,{lonlat(600, 900)[0]:.7f},{lonlat(600, 900)[1]:.7f},2")
    sites.append(f"分拣,{lonlat(1200, 600)[0]:.7f},{lonlat(1200, 600)[1]:.7f},3")
    _csv(folder / "sites.csv", "name,lon,lat,tiers", sites)
    return {
        "name": "toy",
        "seed": 1,
        "city": {"source": str(city_file)},
        "demand": {"source": "file", "file": {"path": "compounds.csv"}},
        "sites": {"compound_edge_points": 0, "files": [{"path": "sites.csv"}]},
        "tiers": [
            {"tier": 1, "radius_m": 500, "capacity_kg_day": 1000, "open_cost": 30000},
            {"tier": 2, "radius_m": 4000, "capacity_kg_day": 30000, "open_cost": 800000},
            {"tier": 3, "radius_m": 20000, "capacity_kg_day": 200000, "open_cost": 5000000},
        ],
        "fleet": [
            {"name": "三轮车", "count": 4, "capacity_kg": 400, "weight_t": 0.8, "shift": "07:00-17:00"},
            {"name": "转运车", "role": "haul", "count": 1, "capacity_kg": 8000, "weight_t": 14, "permit": True},
        ],
        "locate": {"node_limit": 1, "time_limit_s": 30},
        "route": {"max_iterations": 200, "time_limit_s": 10, "drop_penalty_cny": None},
        "outputs": {"map": False, "dir": str(folder / "out")},
    }


def write(folder: Path, data: dict) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run(capsys, folder: Path, data: dict, command: str = "run") -> tuple[int, str, str]:
    """Run the CLI in process; return (exit code, stdout, stderr)."""
    path = write(folder, data)
    code = main([command, str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one error line the CLI printed."""
    lines = [ln for ln in err.splitlines() if ln.startswith("netplan: error:")]
    assert len(lines) == 1, err
    return lines[0]


def manifest_warnings(folder: Path) -> list[dict]:
    return json.loads((folder / "out" / "manifest.json").read_text(encoding="utf-8"))["warnings"]


def test_the_toy_scenario_runs_clean(tmp_path, capsys, city_file):
    code, out, err = run(capsys, tmp_path, base_scenario(tmp_path, city_file))
    assert code == 0, err
    assert "warnings:      none" in out, out


# ----------------------------------------------------------------------------------------------- scenario numbers
@pytest.mark.parametrize(
    "mutate, key, expected",
    [
        (lambda d: d["tiers"][0].update(capacity_kg_day=float("inf")), "tiers[0].capacity_kg_day", "finite number"),
        (lambda d: d["tiers"][1].update(capacity_kg_day=1e300), "tiers[1].capacity_kg_day", "less than or equal"),
        (lambda d: d["tiers"][1].update(open_cost=1e300), "tiers[1].open_cost", "less than or equal"),
        (lambda d: d["tiers"][2].update(open_cost=float("nan")), "tiers[2].open_cost", "finite number"),
        (lambda d: d["tiers"][0].update(radius_m=float("inf")), "tiers[0].radius_m", "finite number"),
        (
            lambda d: d["locate"].update(haul_cost_per_t_km=[3.0, float("inf")]),
            "locate.haul_cost_per_t_km[1]",
            "finite number",
        ),
        (lambda d: d.update(name=".."), "name", "current or parent folder"),
        (lambda d: d.update(name="."), "name", "current or parent folder"),
        (lambda d: d["fleet"][0].update(capacity_kg=0.05), "fleet[0].capacity_kg", "greater than or equal to 10"),
        # 12 t typed as 12 kg: a full 1,000 kg/day collection point would need 84 visits
        (lambda d: d["fleet"][0].update(capacity_kg=12), "fleet[0].capacity_kg", "more than 20 visits"),
        (lambda d: d["fleet"][0].update(capacity_kg=1e9), "fleet[0].capacity_kg", "less than or equal"),
        # a 2 t tier-1 capacity against a 60 kg cart: more than 20 visits a day to a full point
        (
            lambda d: d["fleet"][0].update(capacity_kg=60) or d["tiers"][0].update(capacity_kg_day=2000),
            "fleet[0].capacity_kg",
            "more than 20 visits",
        ),
    ],
)
def test_absurd_scenario_values_name_their_key(tmp_path, capsys, city_file, mutate, key, expected):
    data = base_scenario(tmp_path, city_file)
    mutate(data)
    for command in ("validate", "run"):
        code, _, err = run(capsys, tmp_path, data, command)
        assert code == 2, err
        line = error_line(err)
        assert line.startswith(f"netplan: error: {tmp_path / 'scenario.yaml'}: {key}: "), line
        assert expected in line, line
    assert not (tmp_path / "out").exists()


def test_no_fleet_with_routing_on_is_a_warning(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    data["fleet"] = []
    code, out, err = run(capsys, tmp_path, data)
    assert code == 0, err
    found = [w for w in manifest_warnings(tmp_path) if w["code"] == "route.skipped"]
    assert len(found) == 1 and found[0]["stage"] == "route"
    assert "the fleet is empty" in found[0]["message"] and "the fleet is empty" in out
    # switched off on purpose: nothing to warn about
    data["route"]["enabled"] = False
    code, out, err = run(capsys, tmp_path, data)
    assert code == 0 and not [w for w in manifest_warnings(tmp_path) if w["code"] == "route.skipped"]


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("capacity", "inf", "finite"),
        ("capacity", "1e300", "finite"),
        ("capacity", "0", "> 0"),
        ("open_cost", "1e300", "finite"),
        ("open_cost", "-1", ">= 0"),
    ],
)
def test_absurd_site_file_numbers_name_row_and_column(tmp_path, capsys, city_file, column, value, expected):
    data = base_scenario(tmp_path, city_file)
    sites = (tmp_path / "sites.csv").read_text(encoding="utf-8").splitlines()
    sites = [sites[0] + f",{column}"] + [row + ("," + value if i == 2 else ",500") for i, row in enumerate(sites[1:])]
    (tmp_path / "sites.csv").write_text("\n".join(sites) + "\n", encoding="utf-8")
    data["sites"]["files"][0][column] = column
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{tmp_path / 'sites.csv'}: row 4, column '{column}': " in line and expected in line, line


# ------------------------------------------------------------------------------------------------- demand tables
def test_large_table_compounds_are_split_like_osm_compounds(tmp_path, capsys, city_file):
    import geopandas as gpd

    data = base_scenario(tmp_path, city_file)
    _csv(tmp_path / "compounds.csv", "name,lon,lat,households", demand_rows(households=1000))
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err
    demand = gpd.read_file(tmp_path / "out" / "toy.gpkg", layer="demand")
    # 1,000 households over the 400-household limit: 3 parts of 333.3 at the compound's point, each planned
    assert len(demand) == 3 * len(COMPOUNDS) and set(demand["parts"]) == {3}
    assert demand.groupby("name")["households"].sum().round(6).eq(1000).all()
    assert demand["households"].max() <= 400


def test_duplicated_rows_and_ids_warn(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    rows = demand_rows()
    _csv(tmp_path / "compounds.csv", "name,lon,lat,households", rows + [rows[2], rows[5].replace(",300", ",120")])
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err
    found = {w["code"]: w for w in manifest_warnings(tmp_path)}
    assert found["demand.duplicate_rows"]["ids"] == ["10"] and found["demand.duplicate_rows"]["stage"] == "demand"
    # the same name at the same place with other numbers: rows 7 and 11
    assert found["demand.duplicate_ids"]["ids"] == ["7", "11"]

    # with an id column, a repeated id is named whatever the coordinates
    _csv(tmp_path / "compounds.csv", "code,name,lon,lat,households", [f"C{i % 7},{row}" for i, row in enumerate(rows)])
    data["demand"]["file"]["id"] = "code"
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err
    found = {w["code"]: w for w in manifest_warnings(tmp_path)}
    assert "demand.duplicate_rows" not in found and found["demand.duplicate_ids"]["ids"] == ["2", "9"]
    assert "C0" in found["demand.duplicate_ids"]["message"]


@pytest.mark.parametrize(
    "rows, expected",
    [([], "has no rows"), (["甲,104.0016,30.0013,0", "乙,104.0046,30.0015,0"], "every row has 0 households")],
)
@pytest.mark.parametrize("locate", [True, False])
def test_empty_or_zero_demand_table_is_an_error(tmp_path, capsys, city_file, rows, expected, locate):
    data = base_scenario(tmp_path, city_file)
    data["locate"]["enabled"] = locate
    _csv(tmp_path / "compounds.csv", "name,lon,lat,households", rows)
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{tmp_path / 'compounds.csv'}: " in line and expected in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("inf", "expected a finite number, got 'inf'"),
        ("1e300", "expected a value <= 1,000,000, got '1e300'"),
        ("nan", "expected a finite number"),
    ],
)
def test_absurd_households_name_row_and_column(tmp_path, capsys, city_file, value, expected):
    data = base_scenario(tmp_path, city_file)
    rows = demand_rows()
    rows[3] = rows[3].replace(",300", f",{value}")
    _csv(tmp_path / "compounds.csv", "name,lon,lat,households", rows)
    code, _, err = run(capsys, tmp_path, data, "run")
    assert code == 2
    line = error_line(err)
    assert f"{tmp_path / 'compounds.csv'}: row 5, column 'households': {expected}" in line, line


def test_an_empty_geopackage_table_is_an_error(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    path = tmp_path / "compounds.gpkg"
    gpd.GeoDataFrame({"name": [], "households": []}, geometry=[], crs="EPSG:4326").to_file(path)
    data["demand"]["file"]["path"] = "compounds.gpkg"
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{path}: the table has no rows" in line, line


# ------------------------------------------------------------------------------------- networks that cannot be sited
def _cluster(folder: Path, data: dict, households: int) -> None:
    """Five compounds in the north-east corner whose only collection-point candidates are two sites near them."""
    data["demand"]["osm"] = {"max_households_per_point": None}
    data["tiers"][0]["radius_m"] = 400
    pts = [(1100, 1100), (1120, 1080), (1080, 1120), (1130, 1110), (1110, 1130)]
    _csv(
        folder / "compounds.csv",
        "name,lon,lat,households",
        [f"c{i},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},{households}" for i, (x, y) in enumerate(pts)],
    )
    sites = [("p1", 1050, 1125, 1), ("p2", 1125, 1050, 1), ("T", 600, 600, 2), ("S", 0, 0, 3)]
    _csv(
        folder / "sites.csv",
        "name,lon,lat,tiers",
        [f"{n},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},{t}" for n, x, y, t in sites],
    )


def test_a_compound_larger_than_every_reachable_candidate_is_named_before_solving(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    data["demand"]["osm"] = {"max_households_per_point": None}
    rows = demand_rows()
    rows[-1] = rows[-1].replace(",300", ",3000")  # 辛: 2,460 kg/day against 1,000 kg/day collection points
    _csv(tmp_path / "compounds.csv", "name,lon,lat,households", rows)
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{tmp_path / 'scenario.yaml'}: tiers: " in line, line
    assert "demand 7 辛 (2,460 kg/day; largest collection point within 500 m: 1,000)" in line
    assert "max_households_per_point" in line and "time_limit" not in line
    # the same table with the default split limit plans
    del data["demand"]["osm"]
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err


def test_too_many_compounds_that_cannot_share_a_point_are_named(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    _cluster(tmp_path, data, households=700)  # 574 kg/day each: no two fit one 1,000 kg/day point, two points
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert "5 demand point(s) are each larger than half" in line and "reach only 2 candidate(s)" in line, line
    assert "3 of them find no collection point of their own" in line and "time_limit" not in line


@pytest.mark.parametrize("mode", ["both", "integrated", "bottom_up"])
def test_a_proven_infeasible_network_gets_one_diagnosis_and_no_time_limit_advice(tmp_path, capsys, city_file, mode):
    data = base_scenario(tmp_path, city_file)
    data["locate"]["mode"] = mode
    _cluster(tmp_path, data, households=427)  # 350 kg/day each: 1,750 fit two 1,000 kg/day points only split
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{tmp_path / 'scenario.yaml'}: locate: the network cannot be sited: proven infeasible at tier 1" in line
    assert "demand 0 c0 (350 kg/day)" in line and "tiers[0].capacity_kg_day" in line
    assert "a longer time limit cannot help" in line and "raise locate.time_limit_s" not in line


def test_no_demand_left_to_site_is_an_error(tmp_path, capsys, city_file):
    data = base_scenario(tmp_path, city_file)
    data["city"]["snap_limit_m"] = 5  # every compound is 40 m or more from the walk network
    _csv(
        tmp_path / "compounds.csv",
        "name,lon,lat,households",
        [f"{n},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},300" for n, x, y in [("甲", 40, 40), ("乙", 500, 700)]],
    )
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert "no demand to site a network for" in line and "city.snap_limit_m" in line, line
    assert not (tmp_path / "out").exists()
    # without siting the run finishes and says what it left out
    data["locate"]["enabled"] = False
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err
    far = [w for w in manifest_warnings(tmp_path) if w["code"] == "demand.far_from_network"]
    assert len(far) == 1 and far[0]["ids"] == ["0", "1"] and "600 households" in far[0]["message"]


# ------------------------------------------------------------------------------------------------ restriction zones
def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.Polygon([lonlat(x0, y0), lonlat(x1, y0), lonlat(x1, y1), lonlat(x0, y1)])


def _with_zone(data: dict, zone: dict) -> dict:
    data["restrictions"] = [{"name": "限行", "min_weight_t": 2.0, "hours": ["07:00-09:00"], "zone": zone}]
    return data


def test_a_zone_file_without_crs_is_an_error(tmp_path, capsys, city_file):
    path = tmp_path / "zone.gpkg"
    gpd.GeoDataFrame({"name": ["z"]}, geometry=[_box(-10, -10, 310, 310)], crs=None).to_file(path)
    data = _with_zone(base_scenario(tmp_path, city_file), {"path": "zone.gpkg"})
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"netplan: error: {path}: restrictions[0].zone.crs: the zone file has no CRS"), line
    assert not (tmp_path / "out").exists()
    # declared, it plans
    data["restrictions"][0]["zone"]["crs"] = "wgs84"
    code, _, err = run(capsys, tmp_path, data)
    assert code == 0, err


def test_zone_coordinates_out_of_range_are_an_error(tmp_path, capsys, city_file):
    # a zone in projected metres (UTM 48N) labelled EPSG:4326: latitudes of millions of degrees
    metres = gpd.GeoSeries([_box(-10, -10, 310, 310)], crs="EPSG:4326").to_crs("EPSG:32648")
    path = tmp_path / "zone.gpkg"
    gpd.GeoDataFrame({"name": ["z"]}, geometry=metres.set_crs("EPSG:4326", allow_override=True)).to_file(path)
    data = _with_zone(base_scenario(tmp_path, city_file), {"path": "zone.gpkg"})
    code, _, err = run(capsys, tmp_path, data)
    assert code == 2
    line = error_line(err)
    assert f"{path}: restrictions[0].zone.crs: vertex (" in line and "is not a longitude/latitude" in line, line
    # the same metres inline, without crs: caught by validate already
    data = _with_zone(data, {"polygon": [list(p) for p in metres.iloc[0].exterior.coords[:-1]]})
    code, _, err = run(capsys, tmp_path, data, "validate")
    assert code == 2
    assert "scenario.yaml: restrictions[0].zone.polygon: point [" in error_line(err)


def test_an_unused_ban_warns_and_each_ban_reports_its_share_of_truck_roads(tmp_path, capsys, city_file):
    import pandas as pd

    data = base_scenario(tmp_path, city_file)
    data["restrictions"] = [
        # the south-west corner: 3 streets each way clipped at 310 m of the 9 x 1,200 m each way
        {
            "name": "西南角",
            "min_weight_t": 2.0,
            "hours": ["07:00-09:00"],
            "zone": {"polygon": [list(p) for p in _box(-10, -10, 310, 310).exterior.coords[:-1]]},
        },
        # a Chengdu ring-road ban left in this scenario
        {
            "name": "一环路以内",
            "min_weight_t": 2.0,
            "hours": ["07:00-09:00"],
            "zone": {"polygon": [[104.041, 30.657], [104.087, 30.657], [104.087, 30.688], [104.041, 30.688]]},
        },
    ]
    code, out, err = run(capsys, tmp_path, data)
    assert code == 0, err
    unused = [w for w in manifest_warnings(tmp_path) if w["code"] == "route.ban_unused"]
    assert len(unused) == 1 and unused[0]["ids"] == ["一环路以内"] and unused[0]["stage"] == "route"
    kpis = pd.read_csv(tmp_path / "out" / "kpis.csv")
    kpi = kpis[kpis["section"] == "restrictions"].set_index("key")["value"].astype(float)
    assert kpi["西南角.truck_share"] == pytest.approx(6 * 310 / (2 * 9 * GRID_M), rel=0.01)
    assert kpi["西南角.truck_km"] == pytest.approx(2 * 6 * 0.310, rel=0.01)  # both directions of two-way streets
    assert kpi["一环路以内.truck_share"] == 0.0


def test_a_zone_drawn_in_gcj02_without_crs_warns(chengdu, chengdu_scenario, tmp_path):
    """A zone whose corners are Chengdu truck-road junctions (the hull of those within 1.5 km of the centre)."""
    import numpy as np

    from netplan import diagnostics
    from netplan.coords import wgs84_to_gcj02
    from netplan.route.bans import restriction_coverage
    from netplan.scenario import scenario_from_dict

    nodes = chengdu.drive.graph.nodes(data=True)
    xy = np.array([(d["x"], d["y"]) for _, d in nodes])
    centre = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:4326").to_crs(chengdu.crs)
    middle = shapely.Point(np.median(centre.x), np.median(centre.y))
    near = xy[(centre.distance(middle) < 1500).to_numpy()]
    hull = shapely.MultiPoint(near).convex_hull
    corners = np.asarray(hull.exterior.coords[:-1])
    data = yaml.safe_load(chengdu_scenario.file.read_text(encoding="utf-8"))
    data["city"]["source"] = str(chengdu_scenario.resolve(data["city"]["source"]))
    for declared, zone_xy in (
        ("gcj02", np.column_stack(wgs84_to_gcj02(corners[:, 0], corners[:, 1]))),
        (None, corners),
    ):
        data["restrictions"] = [{"name": "环内", "hours": ["07:00-09:00"], "zone": {"polygon": zone_xy.tolist()}}]
        scenario = scenario_from_dict(data, tmp_path / "s.yaml")
        with diagnostics.collect() as log:
            cover = restriction_coverage(chengdu, scenario)
        found = [w for w in log if w.code == "route.zone_datum_suspect"]
        if declared:
            assert len(found) == 1 and "set restrictions[0].zone.crs: gcj02" in found[0].message, [str(w) for w in log]
            # declared, the same polygon is not doubted and covers the same roads as the WGS-84 one
            data["restrictions"][0]["zone"]["crs"] = "gcj02"
            with diagnostics.collect() as log:
                declared_cover = restriction_coverage(chengdu, scenario_from_dict(data, tmp_path / "s.yaml"))
            assert not log and declared_cover[0]["share"] > 0.01
        else:
            # the same roads to within the few edges that run along the outline
            assert not found and cover[0]["share"] == pytest.approx(declared_cover[0]["share"], rel=0.02)
