"""Sweeps on a real dask cluster: a LocalCluster, a scheduler started here, resume, failures, plots.

The city is a small hand-made one (tests/osm_builder.py): four compounds on a
900 m street grid, a parking lot, industrial land and one existing recycling
point; a run takes about a second, so the tests measure the batch machinery
rather than the solver.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from osm_builder import OsmBuilder, street_grid

from netplan.batch import RUN_MARKER, TIMING_COLUMNS, expand, load_sweep, parse_key, run_sweep, set_key
from netplan.cli import main
from netplan.errors import ScenarioError

BASE = """name: tiny
seed: 3
city: {source: tiny.osm}
tiers:
  - {tier: 1, radius_m: 300, capacity_kg_day: 800, open_cost: 1000, fusion_discount: 0.3}
  - {tier: 2, radius_m: 3000, capacity_kg_day: 20000, open_cost: 50000}
  - {tier: 3, radius_m: 5000, capacity_kg_day: 100000, open_cost: 200000, max_count: 1}
locate: {mode: bottom_up, node_limit: 1, time_limit_s: 60, haul_cost_per_t_km: [3.0, 2.0], unreachable: exclude}
outputs: {map: false}
"""

# 2 x 2 x 2 = 8 runs; radius 200 m with 800 kg/day points cannot hold the east compound: those 2 runs fail
SWEEP = """name: tiny_sweep
base: tiny.yaml
seed: 7
grid:
  tiers[0].radius_m: [200, 300]
  tiers[0].capacity_kg_day: [800, 1500]
runs:
  - tiers[0].fusion_discount: 0.0
  - tiers[0].fusion_discount: 0.5
metrics: {radii_m: [100, 200, 300]}
plots: {group_by: "tiers[0].radius_m", coverage_radius_m: 200}
"""


def _tiny_city(folder: Path) -> Path:
    b = OsmBuilder()
    street_grid(b, size_m=900, step_m=150)
    b.rect(20, 20, 280, 280, {"landuse": "residential", "name": "甲小区"})
    b.rect(320, 20, 580, 280, {"landuse": "residential", "name": "乙小区"})
    b.rect(620, 320, 880, 580, {"landuse": "residential", "name": "丙小区"})
    b.rect(20, 620, 280, 880, {"landuse": "residential", "name": "丁小区"})
    b.rect(320, 320, 430, 430, {"amenity": "parking"})
    b.rect(620, 620, 880, 880, {"landuse": "industrial"})
    b.node(160, 300, {"amenity": "recycling", "name": "旧回收点"})
    b.write(folder / "tiny.osm")
    (folder / "tiny.yaml").write_text(BASE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = _tiny_city(tmp_path_factory.mktemp("tiny"))
    (folder / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local_sweep(tiny):
    """The sweep run once through the CLI on a LocalCluster of 2 workers: (folder, table, stdout)."""
    out = tiny / "local"
    proc = subprocess.run(
        [sys.executable, "-m", "netplan.cli", "batch", str(tiny / "sweep.yaml"), "--workers", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tiny,
    )
    assert proc.returncode == 0, proc.stderr
    return out, pd.read_csv(out / "runs.csv", encoding="utf-8-sig"), proc


def _without_timing(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


# ------------------------------------------------------------ sweep files
def test_key_paths():
    assert parse_key("tiers[0].radius_m") == ["tiers", 0, "radius_m"]
    assert parse_key("locate.time_limit_s") == ["locate", "time_limit_s"]
    for bad in ("tiers[x].radius_m", "a..b", ".a", "tiers[0]radius"):
        with pytest.raises(ValueError, match="not a key path"):
            parse_key(bad)
    data = {"tiers": [{"radius_m": 1}], "city": {"source": "a"}}
    set_key(data, "tiers[0].radius_m", 300)
    set_key(data, "locate.node_limit", 1)  # a missing section is created
    assert data["tiers"][0]["radius_m"] == 300 and data["locate"] == {"node_limit": 1}
    with pytest.raises(ValueError, match=r"index out of range \(tiers has 1 entries\)"):
        set_key(data, "tiers[3].radius_m", 1)
    with pytest.raises(ValueError, match="not a mapping"):
        set_key(data, "city.source.x", 1)


def test_expand_grid_runs_and_cities(tiny, tmp_path):
    (tmp_path / "other.yaml").write_text(
        BASE.replace("name: tiny", "name: other").replace("tiny.osm", str(tiny / "tiny.osm")), encoding="utf-8"
    )
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text(
        SWEEP.replace("base: tiny.yaml", f"base: {tiny / 'tiny.yaml'}")
        + f"cities: [{tiny / 'tiny.osm'}, other.yaml]\n",
        encoding="utf-8",
    )
    sweep, path = load_sweep(sweep_file)
    specs = expand(sweep, path, tmp_path / "out")
    assert len(specs) == 2 * 2 * 2 * 2
    assert [s.index for s in specs] == list(range(16))
    assert [s.city for s in specs] == ["tiny"] * 8 + ["other"] * 8  # a road file keeps the base; a scenario replaces it
    assert specs[0].scenario["city"]["source"] == str(tiny / "tiny.osm") and specs[8].scenario["name"] == "other"
    sweep_file.write_text(
        SWEEP.replace("base: tiny.yaml", f"base: {tiny / 'tiny.yaml'}")
        + f"cities: [{tiny / 'tiny.osm'}, {tiny / 'tiny.yaml'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"cities: two cities share a label \['tiny', 'tiny'\]"):
        expand(*load_sweep(sweep_file), tmp_path / "out")
    sweep_file.write_text(SWEEP.replace("base: tiny.yaml", f"base: {tiny / 'tiny.yaml'}"), encoding="utf-8")
    specs = expand(*load_sweep(sweep_file), tmp_path / "out")
    first = specs[0]
    assert first.city == "tiny" and first.params == {
        "tiers[0].radius_m": 200,
        "tiers[0].capacity_kg_day": 800,
        "tiers[0].fusion_discount": 0.0,
    }
    assert first.scenario["seed"] == 7 and first.scenario["tiers"][0]["radius_m"] == 200
    # the last key varies fastest, then the explicit runs
    assert [s.params["tiers[0].fusion_discount"] for s in specs[:2]] == [0.0, 0.5]
    assert len({s.run_id for s in specs}) == 8
    assert [s.run_id for s in expand(*load_sweep(sweep_file), tmp_path / "other")] == [
        s.run_id for s in specs
    ]  # stable
    # the id follows the settings: a different base changes it
    (tmp_path / "base2.yaml").write_text(
        BASE.replace("open_cost: 50000", "open_cost: 60000").replace("tiny.osm", str(tiny / "tiny.osm")),
        encoding="utf-8",
    )
    sweep_file.write_text(SWEEP.replace("base: tiny.yaml", "base: base2.yaml"), encoding="utf-8")
    assert {s.run_id for s in expand(*load_sweep(sweep_file), tmp_path / "o")}.isdisjoint(s.run_id for s in specs)


@pytest.mark.parametrize(
    "edit, where, message",
    [
        (
            ("tiers[0].radius_m: [200, 300]", "tiers[0].radius_mm: [200, 300]"),
            "grid.tiers[0].radius_mm",
            "tiers[0].radius_mm: unknown key",
        ),
        (
            ("tiers[0].radius_m: [200, 300]", "tiers[0].radius_m: [200, -1]"),
            "grid.tiers[0].radius_m",
            "tiers[0].radius_m: Input should be greater than 0",
        ),
        (("tiers[0].radius_m: [200, 300]", "tiers[7].radius_m: [200]"), "grid.tiers[7].radius_m", "index out of range"),
        (("tiers[0].radius_m: [200, 300]", "tiers[0].radius_m: []"), "grid.tiers[0].radius_m", "non-empty list"),
        (("seed: 7", "seeds: 7"), "seeds", "unknown key"),
        (("base: tiny.yaml", "base: nowhere.yaml"), None, "base scenario not found"),
    ],
)
def test_bad_sweeps_fail_before_running(tiny, tmp_path, capsys, edit, where, message):
    bad = tiny / f"bad_{abs(hash(edit)) % 10_000}.yaml"
    bad.write_text(SWEEP.replace(*edit), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        expand(*load_sweep(bad), tmp_path)
    assert message in str(info.value)
    if where:
        assert str(info.value).startswith(f"{bad}: {where}: ")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------- a real cluster
def test_sweep_on_a_local_cluster(local_sweep, tiny):
    out, table, proc = local_sweep
    assert "dask LocalCluster with 2 worker(s)" in proc.stderr
    assert "8/8 runs" in proc.stderr  # the progress bar
    assert "8 run(s), 6 ok, 2 failed (8 run now, 0 skipped" in proc.stdout
    params = ["tiers[0].radius_m", "tiers[0].capacity_kg_day", "tiers[0].fusion_discount"]
    assert list(table.columns[:9]) == ["run_id", "city", *params, "status", "error", "seconds", "city_load_s"]
    assert table[params].values.tolist() == [[r, c, f] for r in (200, 300) for c in (800, 1500) for f in (0.0, 0.5)]
    failed = table[table["status"] == "failed"]
    # the failing runs are recorded with the reason; every other run finished
    assert failed[params[:2]].values.tolist() == [[200, 800], [200, 800]]
    assert failed["error"].str.contains("InputDataError: .*cannot hold all demand", regex=True).all()
    assert (table.loc[table["status"] == "ok", "error"].isna()).all()
    # each worker process loaded the city once at most; the other runs reused it
    assert 1 <= int((table["city_load_s"] > 0).sum()) <= 2
    # Parquet holds the same table (integers stay integers beside the failed runs' empty cells)
    parquet = pd.read_parquet(out / "runs.parquet")
    pd.testing.assert_frame_equal(
        parquet.astype(object).where(parquet.notna(), None),
        table.astype(object).where(table.notna(), None),
        check_dtype=False,
    )
    assert str(parquet["tier1_count"].dtype) == "Int64"
    # per-run outputs and what they say
    for row in table.to_dict("records"):
        folder = out / "runs" / row["run_id"]
        marker = json.loads((folder / RUN_MARKER).read_text(encoding="utf-8"))
        assert marker["row"]["status"] == row["status"]
        if row["status"] == "ok":
            # the run's own KPI (coverage at its walking radius) matches the table's metric at that radius
            kpis = pd.read_csv(folder / "kpis.csv", encoding="utf-8-sig")
            covered = float(
                kpis[(kpis.section == "network") & (kpis.key == "households_covered_share")]["value"].iloc[0]
            )
            assert row[f"households_within_{row['tiers[0].radius_m']}m"] == pytest.approx(covered, abs=1e-4)
            assert (folder / "tiny.gpkg").is_file() and (folder / "metrics.json").is_file()
    for name in ("coverage_vs_radius.png", "cost_vs_coverage.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.rglob(".*tmp*"))


def test_rerun_skips_finished_and_retries_failed_only_when_asked(local_sweep, tiny, tmp_path):
    out, table, _ = local_sweep
    again = tmp_path / "again"
    import shutil

    shutil.copytree(out, again)
    result = run_sweep(tiny / "sweep.yaml", out=again, workers=1, progress=False, log=lambda _: None)
    assert (result.ran, result.skipped, result.failed) == (0, 8, 2)
    pd.testing.assert_frame_equal(
        pd.read_csv(again / "runs.csv", encoding="utf-8-sig"), table
    )  # timings too: nothing re-ran
    result = run_sweep(
        tiny / "sweep.yaml", out=again, workers=1, retry_failed=True, progress=False, log=lambda _: None, plots=False
    )
    assert (result.ran, result.skipped, result.failed) == (2, 6, 2)
    pd.testing.assert_frame_equal(
        _without_timing(pd.read_csv(again / "runs.csv", encoding="utf-8-sig")), _without_timing(table)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_scheduler(tmp_path):
    """A dask scheduler and one worker on loopback, as separate processes; torn down after the test."""
    from dask.distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--local-directory",
                str(tmp_path / "dask-worker"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    if client.scheduler_info().get("workers"):
                        break
            except (OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the dask scheduler and worker did not come up within 90 s")
            time.sleep(0.5)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_sweep_on_a_running_scheduler(dask_scheduler, local_sweep, tiny, tmp_path):
    out = tmp_path / "remote"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "netplan.cli",
            "batch",
            str(tiny / "sweep.yaml"),
            "--scheduler",
            dask_scheduler,
            "--out",
            str(out),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"dask scheduler {dask_scheduler} with 1 worker(s)" in proc.stderr
    remote = pd.read_csv(out / "runs.csv", encoding="utf-8-sig")
    # same sweep, other engine: the same table but for the timing columns
    pd.testing.assert_frame_equal(_without_timing(remote), _without_timing(local_sweep[1]))
    assert int((remote["city_load_s"] > 0).sum()) == 1  # one worker: one city load for the 8 runs
    assert not (out / "coverage_vs_radius.png").exists()


def test_unreachable_scheduler_is_a_user_error(tiny, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    sweep = tiny / "one.yaml"
    sweep.write_text(SWEEP.split("grid:")[0] + "metrics: {radii_m: [300]}\n", encoding="utf-8")
    assert main(["batch", str(sweep), "--scheduler", address, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"--scheduler: cannot reach the dask scheduler at {address}" in err and "Traceback" not in err


def test_resume_after_the_sweep_was_killed(tiny, tmp_path):
    sweep = tiny / "long.yaml"
    sweep.write_text(
        SWEEP.replace("[200, 300]", "[250, 300, 350]").replace("[800, 1500]", "[1500, 2000]"), encoding="utf-8"
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "netplan.cli", "batch", str(sweep), "--workers", "1", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob(f"runs/*/{RUN_MARKER}"))) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no run finished within 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: the CLI, its nanny and worker processes
        proc.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"runs/*/{RUN_MARKER}")}
    assert 2 <= len(done) < 12
    result = run_sweep(sweep, out=out, workers=1, progress=False, log=lambda _: None, plots=False)
    assert result.skipped == len(done) and result.ran == 12 - len(done)
    assert len(result.table) == 12 and (result.table["status"] == "ok").all()
    # the runs finished before the kill were not run again
    assert {name: (out / "runs" / name / RUN_MARKER).stat().st_mtime_ns for name in done} == done
    assert not list(out.rglob(".*tmp*"))
    table = pd.read_csv(out / "runs.csv", encoding="utf-8-sig")
    assert table["run_id"].tolist() == [s.run_id for s in expand(*load_sweep(sweep), out)]
