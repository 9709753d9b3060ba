"""The harvest-window plan against cases whose trips, vehicle-days and fleet are known by hand."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from netplan.route.straw import harvest_plan, typical_day_loads
from netplan.scenario import StrawConfig, StrawVehicle


def _config(window: int = 5) -> StrawConfig:
    truck = StrawVehicle(name="truck", capacity_t=10, speed_kph=40, load_min=30, unload_min=30, hours_per_day=10)
    return StrawConfig(capacity_t_season=2000, window_days=window, baler_t_day=50, vehicle=truck)


def test_fleet_known_by_hand() -> None:
    blocks = pd.DataFrame(
        {"centre": [1, 2, 2], "straw_t": [1000.0, 15.0, 5.0], "distance_m": [10_000.0, 4_000.0, 2_000.0]}
    )
    plan = harvest_plan(blocks, _config()).set_index("centre")
    # centre 1: 100 trips x (2 x 10 km / 40 km/h + 1 h) = 150 h = 15 vehicle-days; 5-day window -> 3 vehicles;
    # balers: 1000 t / (50 t/day x 5 days) = 4
    one = plan.loc[1]
    assert (one["trips"], one["vehicle_hours"], one["vehicle_days"], one["fleet"], one["balers"]) == (
        100,
        pytest.approx(150.0),
        pytest.approx(15.0),
        3,
        4,
    )
    assert one["utilisation"] == pytest.approx(0.5)
    assert one["truck_km"] == pytest.approx(2000.0)
    assert one["baler_days"] == pytest.approx(20.0)  # 1000 t / 50 t per baler-day
    # centre 2: 2 trips x (0.2 + 1) h + 1 trip x (0.1 + 1) h = 3.5 h -> 0.35 vehicle-days -> 1 vehicle, 1 baler
    two = plan.loc[2]
    assert (two["trips"], two["vehicle_hours"], two["fleet"], two["balers"]) == (3, pytest.approx(3.5), 1, 1)


def test_a_shorter_window_needs_a_larger_fleet() -> None:
    blocks = pd.DataFrame({"centre": [1], "straw_t": [1000.0], "distance_m": [10_000.0]})
    # 15 vehicle-days: 3 days -> 5 vehicles, 4 days -> 4 (3.75 rounded up), 15 days -> 1
    fleets = [int(harvest_plan(blocks, _config(w))["fleet"].iloc[0]) for w in (3, 4, 15)]
    assert fleets == [5, 4, 1]


def test_exact_multiples_do_not_round_up() -> None:
    blocks = pd.DataFrame({"centre": [1], "straw_t": [200.0], "distance_m": [0.0]})
    row = harvest_plan(blocks, _config(window=2)).iloc[0]
    # 20 trips x 1 h = 20 h = 2 vehicle-days = 1 vehicle over 2 days, exactly
    assert (row["trips"], row["vehicle_days"], row["fleet"]) == (20, pytest.approx(2.0), 1)


def test_typical_day_deals_the_season_loads_over_the_window() -> None:
    blocks = gpd.GeoDataFrame(
        {"block_id": [0, 1], "straw_t": [25.0, 8.0], "drive_node": [11, 12]},
        geometry=[shapely.Point(0, 0), shapely.Point(1, 1)],
        crs="EPSG:4326",
    )
    cfg = _config(window=2)
    cfg.vehicle.capacity_t = 8
    day = typical_day_loads(blocks, cfg, lang="en")
    # loads in block order: 8, 8, 8, 1 (block 0), 8 (block 1); day 1 takes the 1st, 3rd and 5th
    assert day["load_kg_day"].tolist() == pytest.approx([8000.0, 8000.0, 8000.0])
    assert day["name"].tolist() == ["block 0 (1/4)", "block 0 (3/4)", "block 1 (1/1)"]
    assert day["drive_node"].tolist() == [11, 11, 12]
