"""The routing problem's interval arithmetic and its checks of bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from netplan.errors import NetplanError
from netplan.route.problem import (
    Depot,
    Interval,
    Location,
    Profile,
    RoutingInputError,
    RoutingProblem,
    Stop,
    VehicleType,
    merge,
    subtract,
)
from netplan.scenario import scenario_from_dict

H = 3600


def line_problem(stops, vehicle_types, depots=None) -> RoutingProblem:
    """Places on a line, 1 m apart per unit, 1 s per metre."""
    xs = [0, 100, 200, 5000]
    d = np.abs(np.subtract.outer(xs, xs)).astype(np.int64)
    locs = [Location(f"x{x}", float(x), 0.0) for x in xs]
    return RoutingProblem(locs, {"p": Profile("p", d, d)}, stops, depots or [Depot("depot", 0)], vehicle_types)


def test_subtract_and_merge():
    day = [Interval(6 * H, 18 * H)]
    assert subtract(day, [Interval(7 * H, 9 * H), Interval(17 * H, 19 * H)]) == [
        Interval(6 * H, 7 * H),
        Interval(9 * H, 17 * H),
    ]
    assert subtract(day, [Interval(0, 24 * H)]) == []
    assert subtract([Interval(0, 10), Interval(20, 30)], [Interval(5, 25)]) == [Interval(0, 5), Interval(25, 30)]
    assert merge([Interval(5, 10), Interval(0, 6), Interval(10, 12), Interval(20, 21)]) == [
        Interval(0, 12),
        Interval(20, 21),
    ]
    stop = Stop("s", 1, (1,), windows=(Interval(8 * H, 12 * H),), forbidden={"truck": (Interval(7 * H, 9 * H),)})
    assert stop.allowed("truck", Interval(0, 24 * H)) == [Interval(9 * H, 12 * H)]
    assert stop.allowed("trike", Interval(0, 24 * H)) == [Interval(8 * H, 12 * H)]


def test_inverted_window_is_an_error():
    with pytest.raises(RoutingInputError, match="ends before it starts"):
        Interval(9 * H, 7 * H)


def test_overlapping_windows_named():
    stop = Stop("market", 1, (10,), windows=(Interval(8 * H, 10 * H), Interval(9 * H, 11 * H)))
    with pytest.raises(
        RoutingInputError, match=r"stop 'market': time windows: intervals 08:00-10:00 and 09:00-11:00 overlap"
    ):
        line_problem([stop], [VehicleType("van", 1, (100,), profile="p")]).validate()


def test_zero_capacity_named():
    with pytest.raises(RoutingInputError, match=r"vehicle type 'van': capacity in kg must be positive, got 0"):
        line_problem([Stop("a", 1, (10,))], [VehicleType("van", 1, (0,), profile="p")]).validate()


def test_load_above_every_capacity_named():
    with pytest.raises(
        RoutingInputError, match=r"stop 'big': load \(500,\).*exceeds every vehicle's capacity \(largest \(400,\)\)"
    ):
        line_problem([Stop("big", 1, (500,))], [VehicleType("trike", 2, (400,), profile="p")]).validate()


def test_stop_no_vehicle_can_reach_in_time_named():
    # x5000 is 5000 s away; its window closes 10 minutes into the shift.
    late = Stop("far", 3, (1,), windows=(Interval(6 * H, 6 * H + 600),))
    vt = VehicleType("van", 1, (100,), shift=Interval(6 * H, 18 * H), profile="p")
    with pytest.raises(
        RoutingInputError, match=r"stop 'far': no vehicle can reach it.*van \(earliest arrival 07:23:20"
    ):
        line_problem([late], [vt]).validate()
    # A ban that covers the whole window for the only vehicle's class is the same error.
    banned = Stop("near", 1, (1,), windows=(Interval(7 * H, 9 * H),), forbidden={"p": (Interval(6 * H, 10 * H),)})
    with pytest.raises(RoutingInputError, match="stop 'near': no vehicle can reach it"):
        line_problem([banned], [vt]).validate()
    # An optional stop is not an error: it may be dropped.
    optional = Stop("far", 3, (1,), windows=(Interval(6 * H, 6 * H + 600),), required=False, penalty=10)
    assert line_problem([optional], [vt]).validate().stops[0].name == "far"


def test_unknown_profile_and_bad_depot_index():
    with pytest.raises(RoutingInputError, match=r"unknown profile 'truck'"):
        line_problem([Stop("a", 1, (1,))], [VehicleType("van", 1, (10,), profile="truck")]).validate()
    with pytest.raises(RoutingInputError, match=r"vehicle type 'van': depot index 3 out of range"):
        line_problem([Stop("a", 1, (1,))], [VehicleType("van", 1, (10,), reload_depots=(3,), profile="p")]).validate()


BASE = {
    "name": "t",
    "city": {"source": "x.osm"},
    "tiers": [
        {"tier": 1, "radius_m": 500, "capacity_kg_day": 100},
        {"tier": 2, "radius_m": 4000, "capacity_kg_day": 1000},
        {"tier": 3, "radius_m": 9000, "capacity_kg_day": 9000},
    ],
}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"fleet": [{"name": "van", "count": 1, "capacity_kg": 0}]}, "fleet[0].capacity_kg"),
        ({"fleet": [{"name": "van", "count": 1, "capacity_kg": 10, "shift": "18:00-06:00"}]}, "ends before it starts"),
        (
            {"fleet": [{"name": "van", "count": 1, "capacity_kg": 10, "breaks": ["11:00-13:00", "12:00-14:00"]}]},
            "break windows overlap",
        ),
        (
            {"restrictions": [{"name": "r", "hours": ["07:00-09:00", "08:00-10:00"], "osm_ways": [1]}]},
            "intervals overlap",
        ),
        ({"restrictions": [{"name": "r", "hours": ["09:00-07:00"], "osm_ways": [1]}]}, "ends before it starts"),
        ({"route": {"stop_hours": ["08:00-12:00", "11:00-13:00"]}}, "route.stop_hours"),
        (
            {"fleet": [{"name": "van", "count": 1, "capacity_kg": 10}, {"name": "van", "count": 2, "capacity_kg": 10}]},
            "names must be unique",
        ),
    ],
)
def test_scenario_rejects_bad_fleet_and_windows(patch, message):
    with pytest.raises(NetplanError, match=re.escape(message)) as err:
        scenario_from_dict({**BASE, **patch}, "bad.yaml")
    assert err.value.exit_code == 2
