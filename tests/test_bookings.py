"""Bookings tables: reading (CRS, defaults, row-and-column errors) and generating from demand (seeded)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from netplan.bookings import BOOKING_COLUMNS, generate_bookings, read_bookings
from netplan.coords import gcj02_to_wgs84
from netplan.errors import InputDataError, ScenarioError
from netplan.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "scenarios" / "bookings_sample_gcj02.csv"


@pytest.fixture(scope="module")
def config():
    return load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml").bookings


def test_sample_reads_gcj02_with_stream_defaults(config) -> None:
    table = read_bookings(SAMPLE, config, crs="gcj02")
    assert list(table.columns) == BOOKING_COLUMNS
    assert len(table) == 12 and table.crs.to_epsg() == 4326
    first = table.iloc[0]
    # GCJ-02 shifted back to WGS-84: the written coordinates were WGS-84 (104.045, 30.705) shifted by ~500 m.
    lon, lat = gcj02_to_wgs84(104.047461, 30.702561)
    assert (first.geometry.x, first.geometry.y) == pytest.approx((lon, lat))
    assert (first.geometry.x, first.geometry.y) == pytest.approx((104.045, 30.705), abs=2e-5)
    # blank kg/m3 take the stream default per item (2 sofas of 40 kg, 0.8 m3), a given value is the booking total
    assert (first["items"], first["kg"], first["m3"]) == (2, 80.0, pytest.approx(1.6))
    assert first["service_min"] == 15 + 5  # the stream's door time plus 5 min for the second item
    assert table.set_index("booking_id").loc["BK-0907", ["kg", "m3"]].tolist() == [12.0, 0.1]
    trade = table[table["stream"] == "trade_in"].set_index("booking_id")
    assert trade["trade_in"].all() and (trade["store"] == "家电卖场仓库").all()
    assert trade.loc["BK-0910", "kg"] == 70 and trade.loc["BK-0911", "delivery_m3"] == pytest.approx(0.6)
    assert table.loc[table["stream"] == "bulky", "delivery_kg"].eq(0).all()


def test_bd09_and_wgs84_give_the_same_place(tmp_path: Path, config) -> None:
    from netplan.coords import wgs84_to_bd09

    lon, lat = wgs84_to_bd09(104.06, 30.70)
    bd = tmp_path / "bd.csv"
    bd.write_text(f"id,stream,lon,lat,slot\nA,bulky,{lon},{lat},08:00-10:00\n", encoding="utf-8")
    wgs = tmp_path / "wgs.csv"
    wgs.write_text("id,stream,lon,lat,slot\nA,bulky,104.06,30.70,08:00-10:00\n", encoding="utf-8")
    a, b = read_bookings(bd, config, crs="bd09"), read_bookings(wgs, config)
    assert a.geometry.iloc[0].distance(b.geometry.iloc[0]) < 1e-6


def test_geopackage_in_gcj02(tmp_path: Path, config) -> None:
    path = tmp_path / "b.gpkg"
    gpd.GeoDataFrame(
        {"id": ["x1"], "stream": ["e_waste"], "slot": ["10:00-12:00"], "kg": [5.0]},
        geometry=[shapely.Point(104.0625, 30.6975)],
        crs="EPSG:4326",
    ).to_file(path)
    table = read_bookings(path, config, crs="gcj02")
    assert table.iloc[0].geometry.x == pytest.approx(gcj02_to_wgs84(104.0625, 30.6975)[0])
    assert table.iloc[0]["kg"] == 5.0 and table.iloc[0]["m3"] == pytest.approx(0.08)


@pytest.mark.parametrize(
    "row, where, text",
    [
        ("B,furniture,104.06,30.70,08:00-10:00,,", "row 3, column 'stream'", "unknown stream 'furniture'"),
        ("B,bulky,104.06,30.70,10:00-08:00,,", "row 3, column 'slot'", "ends before it starts"),
        ("B,bulky,104.06,30.70,9-11,,", "row 3, column 'slot'", "HH:MM"),
        ("B,bulky,104.06,30.70,08:00-10:00,heavy,", "row 3, column 'kg'", "expected a number"),
        ("B,bulky,104.06,30.70,08:00-10:00,,-1", "row 3, column 'm3'", "> 0"),
        ("A,bulky,104.06,30.70,08:00-10:00,,", "row 3, column 'id'", "appears twice"),
        ("B,bulky,east,30.70,08:00-10:00,,", "row 3, column 'lon'", "expected a finite number"),
    ],
)
def test_bad_rows_name_row_and_column(tmp_path: Path, config, row: str, where: str, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,stream,lon,lat,slot,kg,m3\nA,bulky,104.05,30.70,08:00-10:00,30,0.5\n" + row + "\n", encoding="utf-8"
    )
    with pytest.raises(InputDataError) as err:
        read_bookings(path, config)
    assert err.value.where == where and text in str(err.value)


def test_unknown_store_and_missing_column(tmp_path: Path, config) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,stream,lon,lat,slot,store\nT,trade_in,104.06,30.70,08:00-10:00,国美\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="unknown store '国美'") as err:
        read_bookings(path, config)
    assert err.value.where == "row 2, column 'store'"
    path.write_text("id,stream,lon,lat\nT,bulky,104.06,30.70\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="column 'slot' not found"):
        read_bookings(path, config)


def _demand(n: int = 40) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    return gpd.GeoDataFrame(
        {"households": rng.integers(200, 2000, n).astype(float)},
        geometry=gpd.points_from_xy(104.0 + rng.random(n) * 0.1, 30.65 + rng.random(n) * 0.1),
        crs="EPSG:4326",
    )


def test_generated_bookings_follow_rates_and_seed(config) -> None:
    demand = _demand()
    a = generate_bookings(demand, config, seed=7)
    b = generate_bookings(demand, config, seed=7)
    c = generate_bookings(demand, config, seed=8)
    assert a.equals(b) and not a.equals(c)
    assert list(a.columns) == BOOKING_COLUMNS and a["booking_id"].is_unique
    households = demand["households"].sum()
    for name, stream in config.streams.items():
        mine = a[a["stream"] == name]
        expected = households * stream.rate_per_1000_households / 1000
        assert abs(len(mine) - expected) < 4 * np.sqrt(expected) + 1  # Poisson: within 4 sigma
        assert (mine["kg"] == stream.kg * mine["items"]).all()
        assert mine["slot"].isin(config.slots).all()
        assert mine["trade_in"].eq(stream.trade_in).all()
    assert (a.loc[a["trade_in"], "store"] == "家电卖场仓库").all()
    # a booking stands at one of the demand points
    places = {(p.x, p.y) for p in demand.geometry}
    assert all((p.x, p.y) in places for p in a.geometry)


def test_generated_streams_are_independent(config) -> None:
    demand = _demand()
    fewer = config.model_copy(deep=True)
    del fewer.streams["e_waste"]
    fewer.vehicles = [v for v in fewer.vehicles if "e_waste" not in v.streams]
    a = generate_bookings(demand, config, seed=3)
    b = generate_bookings(demand, fewer, seed=3)
    for name in ("bulky", "trade_in"):
        assert a[a["stream"] == name].reset_index(drop=True).equals(b[b["stream"] == name].reset_index(drop=True))


def test_scenario_checks_references() -> None:
    data = load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml").model_dump(mode="json")
    data["bookings"]["vehicles"][0]["base"] = "nowhere"
    with pytest.raises(ScenarioError, match="unknown base 'nowhere'"):
        scenario_from_dict(data)
    data = load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml").model_dump(mode="json")
    data["bookings"]["slots"] = ["08:00-10:00", "09:00-11:00"]
    with pytest.raises(ScenarioError, match="overlap"):
        scenario_from_dict(data)


def test_run_plans_and_writes_the_booking_day(chengdu, tmp_path: Path) -> None:
    # netplan run's bookings stage: the operator's GCJ-02 table set in the scenario, written inside the output folder.
    import pandas as pd

    from netplan.pipeline import build_plan, write_outputs
    from netplan.scenario import BookingFile

    scenario = load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml")
    scenario.bookings.file = BookingFile(path="bookings_sample_gcj02.csv", crs="gcj02")
    scenario.outputs.map = False
    scenario.locate.enabled = False
    scenario.route.enabled = False
    plan = build_plan(scenario, city=chengdu)
    assert plan.bookings is not None and "bookings" in plan.timings
    outputs = write_outputs(plan, tmp_path / "out")
    table = pd.read_csv(outputs.extra["bookings_bookings"], encoding="utf-8-sig")
    assert outputs.extra["bookings_bookings"].parent == tmp_path / "out" / "bookings"
    assert len(table) == 12 and (table["served"] == "yes").all() and "bookings_map" not in outputs.extra
    assert [w.code for w in plan.warnings if w.stage == "bookings"] == []
    manifest = __import__("json").loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert "bookings/bookings.csv" in [f["path"] for f in manifest["files"]]


def test_a_sweep_row_carries_the_booking_day(tmp_path: Path, chengdu) -> None:
    # `netplan batch` runs the service-level question: each row has the booking day's numbers (bookings_*), the
    # same as planning that scenario directly.
    from netplan.batch import expand, load_sweep, run_one
    from netplan.bookings import run_bookings

    sample = ROOT / "scenarios" / "bookings_sample_gcj02.csv"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"name: bookings_rates\nbase: {ROOT / 'scenarios' / 'chengdu_bookings.yaml'}\n"
        "set:\n  locate.enabled: false\n  route.enabled: false\n"
        f"  bookings.file: {{path: {sample}, crs: gcj02}}\n"
        "grid:\n  bookings.refuse_penalty_cny: [800]\n",
        encoding="utf-8",
    )
    (spec,) = expand(*load_sweep(sweep), tmp_path / "out")
    row = run_one(spec)
    assert row["status"] == "ok", row["error"]
    scenario = load_scenario(ROOT / "scenarios" / "chengdu_bookings.yaml")
    from netplan.scenario import BookingFile

    scenario.bookings.file = BookingFile(path=str(sample), crs="gcj02")
    assert scenario.city == load_scenario(ROOT / "scenarios" / "chengdu.yaml").city  # so the session's graph serves
    direct, _ = run_bookings(scenario, city=chengdu)
    for key in ("bookings", "served_in_slot", "refused", "vans", "km", "crew_hours", "share_in_slot"):
        assert row[f"bookings_{key}"] == direct.kpis[key], key
    assert row["bookings_bookings"] == 12 and row["bookings_share_in_slot"] == 1.0
