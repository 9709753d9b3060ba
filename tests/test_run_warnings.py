"""The run's one warning list: skipped stages say so, the manifest holds the list, the CLI prints it last, --strict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netplan.pipeline import build_plan, write_outputs
from netplan.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _scenario(folder: Path, old: str, new: str) -> Path:
    text = (ROOT / "scenarios" / "helsinki.yaml").read_text(encoding="utf-8")
    assert old in text
    path = folder / "helsinki_variant.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def no_siting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenario")
    return _scenario(folder, "locate:\n  mode: both", "locate:\n  enabled: false\n  mode: both")


def test_manifest_warnings_are_the_plans(tmp_path, no_siting, helsinki_run_city):
    plan = build_plan(load_scenario(no_siting), city=helsinki_run_city)
    codes = [w.code for w in plan.warnings]
    assert "route.skipped" in codes
    skipped = plan.warnings[codes.index("route.skipped")]
    assert skipped.stage == "route" and "locate.enabled: false" in skipped.message
    outputs = write_outputs(plan, tmp_path / "out")
    manifest = json.loads(outputs.manifest.read_text(encoding="utf-8"))
    assert manifest["warnings"] == [w.as_dict() for w in plan.warnings]


def test_routing_switched_off_on_purpose_is_no_warning(no_siting, helsinki_run_city):
    text = no_siting.read_text(encoding="utf-8") + "\nroute:\n  enabled: false\n"
    path = no_siting.with_name("off.yaml")
    path.write_text(text, encoding="utf-8")
    plan = build_plan(load_scenario(path), city=helsinki_run_city)
    assert "route.skipped" not in [w.code for w in plan.warnings]


def test_empty_fleet_skips_routing_with_a_warning(helsinki_run_city):
    scenario = load_scenario(ROOT / "scenarios" / "helsinki.yaml")
    scenario.fleet = []
    plan = build_plan(scenario, city=helsinki_run_city)
    assert plan.facilities is not None and len(plan.facilities)  # sited, but not routed
    skipped = [w for w in plan.warnings if w.code == "route.skipped"]
    assert len(skipped) == 1 and "the fleet is empty" in skipped[0].message
    assert plan.routes is None or len(plan.routes) == 0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netplan.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_strict_exits_3_with_outputs_written_and_the_list_printed_last(tmp_path, no_siting):
    out = tmp_path / "out"
    proc = _run("run", str(no_siting), "--out", str(out), "--strict", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "netplan: --strict:" in proc.stderr and "exit 3" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {item["path"] for item in manifest["files"]} >= {"helsinki.gpkg", "kpis.csv", "map.html"}
    warnings = manifest["warnings"]
    lines = proc.stdout.rstrip("\n").splitlines()
    # the list closes the output: its heading, then one numbered line per warning in the manifest's order
    tail = lines[-len(warnings) - 1 :]
    assert tail[0].strip() == f"warnings ({len(warnings)}): what this plan leaves out or doubts"
    for i, (line, item) in enumerate(zip(tail[1:], warnings), 1):
        assert line.strip() == f"{i}. [{item['stage']}] {item['message']}"
    # without --strict the same run exits 0
    proc = _run("run", str(no_siting), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["warnings"] == warnings


def test_excluded_demand_and_dropped_stops_are_warnings(helsinki_run_city):
    """What siting leaves out (beyond every walking radius) and what routing leaves unserved is in the list."""
    scenario = load_scenario(ROOT / "scenarios" / "helsinki.yaml")
    scenario.tiers[0].radius_m = 60  # some residents are farther than this from every candidate
    scenario.fleet[0].count, scenario.fleet[0].shift = 1, "06:00-07:00"  # one van for one hour: stops are left
    plan = build_plan(scenario, city=helsinki_run_city)
    by_code = {w.code: w for w in plan.warnings}
    excluded = by_code["locate.excluded_demand"]
    assert excluded.count == len(plan.excluded_demand) > 0
    assert set(excluded.ids) == {str(i) for i in plan.excluded_demand}
    # one warning per routing problem that leaves stops, naming each stop; together they count every dropped stop
    dropped = [w for w in plan.warnings if w.code == "route.dropped_stops"]
    assert sum(w.count for w in dropped) == int(plan.routing["dropped"].sum()) > 0
    named = {name for names in plan.routing["dropped_stops"].dropna() for name in names.split("; ")}
    assert {i for w in dropped for i in w.ids} == named
    assert all(
        str(depot) in " ".join(w.message for w in dropped)
        for depot in plan.routing.loc[plan.routing["dropped"] > 0, "depot"]
    )
