"""Fixtures shared by the routing tests."""

from __future__ import annotations

import pytest
from osm_builder import grid_city as osm_grid_city

from netplan.city import City


@pytest.fixture(scope="module")
def grid_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """A 900 m street grid in 150 m blocks, loaded once per test module (the collection-day and yard tests)."""
    return osm_grid_city(tmp_path_factory.mktemp("grid"), size_m=900.0)
