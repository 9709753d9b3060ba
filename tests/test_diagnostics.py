"""The run's one warning list: collected per run, Python warnings outside a run."""

from __future__ import annotations

import warnings

import pytest

from netplan import diagnostics


def test_collect_gathers_in_order_and_drops_exact_repeats() -> None:
    with diagnostics.collect() as log:
        diagnostics.warn("demand", "demand.duplicate_rows", "2 rows repeat", ids=[3, 7])
        diagnostics.warn("route", "route.dropped", "1 stop left", ids=["s1"])
        diagnostics.warn("demand", "demand.duplicate_rows", "2 rows repeat", ids=[3, 7])
    assert [w.code for w in log] == ["demand.duplicate_rows", "route.dropped"]
    assert log[0].ids == ("3", "7") and log[0].count == 2
    assert log[0].as_dict()["ids"] == ["3", "7"]
    assert str(log[1]) == "[route] 1 stop left"
    assert diagnostics.current() is None


def test_outside_a_run_a_python_warning_is_issued() -> None:
    with pytest.warns(diagnostics.NetplanWarning, match="cut off"):
        diagnostics.warn("city", "city.cut", "3 nodes cut off")


def test_nested_collections_are_separate() -> None:
    with diagnostics.collect() as outer:
        diagnostics.warn("city", "a", "outer")
        with diagnostics.collect() as inner:
            diagnostics.warn("city", "b", "inner")
    assert [w.code for w in outer] == ["a"] and [w.code for w in inner] == ["b"]


def test_many_ids_are_capped_but_counted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        item = diagnostics.warn("demand", "x", "many", ids=range(1000))
    assert len(item.ids) == 200 and item.count == 1000
