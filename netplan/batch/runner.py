"""Running a sweep: one run on a worker, and the driver on a dask cluster with resume markers."""

from __future__ import annotations

import copy
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from netplan.batch.report import build_table, write_plots, write_table
from netplan.batch.spec import RUN_MARKER, RunSpec, expand, load_sweep
from netplan.errors import NetplanError
from netplan.io import write_json

# ----------------------------------------------------------------------- on a worker
_CITIES: dict[str, Any] = {}
_CITY_CACHE_SIZE = 4  # cities kept per worker: a multi-city sweep must not hold every graph at once


def _cached_city(scenario: Any) -> tuple[Any, float]:
    """The scenario's city, loaded once per worker process; returns it and the seconds spent loading (0 if cached)."""
    from netplan.city import load_city

    key = json.dumps(
        {"city": scenario.city.model_dump(mode="json"), "base": str(scenario.base_dir)}, sort_keys=True, default=str
    )
    if key in _CITIES:
        _CITIES[key] = _CITIES.pop(key)  # most recently used last
        return _CITIES[key], 0.0
    start = time.perf_counter()
    city = load_city(scenario.city, scenario.base_dir)
    while len(_CITIES) >= _CITY_CACHE_SIZE:
        _CITIES.pop(next(iter(_CITIES)))
    _CITIES[key] = city
    return city, time.perf_counter() - start


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run one variant and measure it (executed on a dask worker).

    Any exception is caught and recorded: one failing run never stops a
    sweep.

    Parameters
    ----------
    spec
        The run.

    Returns
    -------
    dict
        The run's row: ``run_id``, ``city``, parameters, ``status``
        (``ok``/``failed``), ``error``, ``seconds``, ``city_load_s`` and the
        metrics.
    """
    from netplan.evaluate import plan_metrics
    from netplan.pipeline import build_plan, write_outputs
    from netplan.scenario import scenario_from_dict

    start = time.perf_counter()
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "city": spec.city,
        **spec.params,
        "status": "ok",
        "error": None,
        "seconds": None,
        "city_load_s": 0.0,
    }
    try:
        scenario = scenario_from_dict(copy.deepcopy(spec.scenario), spec.scenario_file)
        # Maps are for people looking at one plan; every run writing maps/<name>.html would also overwrite one file.
        scenario.outputs.map = False
        # the sweep already runs its runs side by side, one per worker: a run's own searches stay in its process
        if scenario.route.workers is None:
            scenario.route.workers = 1
        city, row["city_load_s"] = _cached_city(scenario)
        plan = build_plan(scenario, city=city)
        metrics = plan_metrics(plan, spec.radii_m)
        if spec.per_run:
            folder = Path(spec.out_dir)
            write_outputs(plan, folder)
            write_json(
                folder / "metrics.json",
                {"run_id": spec.run_id, "city": spec.city, "params": spec.params, "metrics": metrics},
            )
        row.update(metrics)
        row.update(booking_metrics(plan.bookings[0].kpis if plan.bookings is not None else None))
    except Exception as exc:  # noqa: BLE001 - recorded in the table, the sweep goes on
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = round(time.perf_counter() - start, 3)
    row["city_load_s"] = round(float(row["city_load_s"]), 3)
    return row


def booking_metrics(kpis: dict[str, Any] | None) -> dict[str, Any]:
    """The booking day's headline numbers as sweep columns (``bookings_<key>``), when the scenario has bookings.

    With them a sweep over ``bookings.streams.<stream>.rate_per_1000_households`` and the fleet's ``count`` gives
    the service level (``bookings_share_in_slot``) against the vans and crews a booking rate needs.
    """
    if not kpis:
        return {}
    return {f"bookings_{key}": value for key, value in kpis.items() if isinstance(value, int | float) or value is None}


# ---------------------------------------------------------------------- the driver
@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    table
        One row per run, in sweep order.
    folder
        The sweep's output folder.
    csv, parquet
        The table's files.
    plots
        Plot name -> PNG path.
    ran, skipped, failed
        Runs executed now, taken from an earlier run of the sweep, and
        failed (now or before).
    seconds
        Wall time of the whole call.
    notes
        Anything worth telling the user (a plot that could not be drawn).
    """

    table: pd.DataFrame
    folder: Path
    csv: Path
    parquet: Path
    plots: dict[str, Path] = field(default_factory=dict)
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class _Bar:
    """A progress bar over runs on stderr (one line per run when stderr is not a terminal)."""

    def __init__(self, total: int, params: set[str], stream: Any = None):
        self.total, self.done, self.failed = total, 0, 0
        self.params = params
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row.get("status") != "ok"
        elapsed = time.perf_counter() - self.start
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {self.done}/{self.total} runs, {self.failed} failed, {elapsed:.0f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if self.done == self.total else ""))
        else:
            params = ", ".join(f"{k}={v}" for k, v in row.items() if k in self.params)
            self.stream.write(
                f"{text} | {row['run_id']} {row['status']} {row.get('seconds') or 0:.1f} s ({row['city']}"
                + (f"; {params}" if params else "")
                + ")\n"
            )
        self.stream.flush()


def _marker(spec: RunSpec) -> Path:
    return Path(spec.out_dir) / RUN_MARKER


def _read_marker(spec: RunSpec) -> dict[str, Any] | None:
    path = _marker(spec)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # unreadable: run it again
    row = data.get("row") if isinstance(data, dict) else None
    return row if isinstance(row, dict) and row.get("run_id") == spec.run_id else None


def _clean_stale(folder: Path) -> None:
    """Remove temporary files a killed earlier run of the sweep left behind (never final outputs)."""
    if not folder.is_dir():
        return
    for pattern in (".*.tmp*", "runs/*/.*.tmp*"):
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)


def _client(workers: int, scheduler: str | None) -> tuple[Any, Any]:
    """A dask client on a new LocalCluster or on an existing scheduler; and the cluster to close (or None)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        match = re.match(r"^(?:tcp://)?([^:/]+):(\d+)$", scheduler)
        if match:
            # a refused connection is known at once; dask's client would retry until its timeout
            try:
                socket.create_connection((match.group(1), int(match.group(2))), timeout=10).close()
            except OSError as exc:
                raise NetplanError(
                    f"cannot reach the dask scheduler at {scheduler} ({exc}); expected tcp://host:port of a "
                    "running 'dask scheduler'",
                    where="--scheduler",
                ) from None
        try:
            return Client(scheduler, timeout="15s"), None
        except (OSError, TimeoutError) as exc:
            raise NetplanError(
                f"cannot reach the dask scheduler at {scheduler} ({exc}); expected tcp://host:port of a "
                "running 'dask scheduler'",
                where="--scheduler",
            ) from None
    if workers < 1:
        raise NetplanError(f"expected at least 1 worker, got {workers}", where="--workers")
    # Single-threaded worker processes: the solvers and Dijkstra hold the GIL, so threads would not add speed.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    return Client(cluster), cluster


def run_sweep(
    sweep_file: str | Path,
    out: str | Path | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    retry_failed: bool = False,
    plots: bool | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run every run of a sweep that has not finished yet, and write the table and plots.

    Parameters
    ----------
    sweep_file
        The sweep YAML.
    out
        Output folder (default: the sweep's ``outputs.dir``, else
        ``outputs/<sweep name>``).
    workers
        Worker processes of the LocalCluster started when no scheduler is given.
    scheduler
        Address of a running dask scheduler (``tcp://host:port``). Its
        workers must have netplan installed and see the same files (inputs
        and the output folder).
    retry_failed
        Run again the runs that failed before (otherwise their rows are kept).
    plots
        Draw the plots (default: the sweep's ``outputs.plots``).
    progress
        Show a progress bar on stderr.
    log
        Called with lines worth telling the user (default: stderr).

    Returns
    -------
    SweepResult
        The table and what was written.

    Raises
    ------
    NetplanError
        For a bad sweep file, base scenario or scheduler address.
    """
    from dask.distributed import as_completed

    started = time.perf_counter()
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    sweep, path = load_sweep(sweep_file)
    folder = (
        Path(out)
        if out
        else ((path.parent / sweep.outputs.dir).resolve() if sweep.outputs.dir else Path("outputs") / sweep.name)
    )
    specs = expand(sweep, path, folder.resolve())
    folder.mkdir(parents=True, exist_ok=True)
    _clean_stale(folder)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[RunSpec] = []
    for spec in specs:
        row = _read_marker(spec)
        if row is not None and (row.get("status") == "ok" or not retry_failed):
            rows[spec.run_id] = row
        else:
            todo.append(spec)
    skipped = len(rows)
    say(f"netplan batch: sweep {sweep.name!r}: {len(specs)} run(s), {skipped} already finished, {len(todo)} to run")
    csv, parquet = write_table(build_table(specs, rows), folder)
    if todo:
        client, cluster = _client(workers, scheduler)
        try:
            n_workers = len(client.scheduler_info().get("workers", {}))
            say(
                f"netplan batch: dask {'scheduler ' + scheduler if scheduler else 'LocalCluster'} "
                f"with {n_workers} worker(s)"
            )
            bar = _Bar(len(todo), {k for s in specs for k in s.params}) if progress else None
            futures = {
                client.submit(run_one, spec, key=f"netplan-run-{spec.run_id}-{time.time_ns()}", pure=False): spec
                for spec in todo
            }
            for future in as_completed(futures):
                spec = futures[future]
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died or the cluster failed this run
                    row = {
                        "run_id": spec.run_id,
                        "city": spec.city,
                        **spec.params,
                        "status": "failed",
                        "error": f"{type(exc).__name__}: {exc}",
                        "seconds": None,
                        "city_load_s": 0.0,
                    }
                rows[spec.run_id] = row
                write_json(_marker(spec), {"run_id": spec.run_id, "city": spec.city, "params": spec.params, "row": row})
                csv, parquet = write_table(build_table(specs, rows), folder)
                if bar is not None:
                    bar.update(row)
                future.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    table = build_table(specs, rows)
    failed = int((table["status"] != "ok").sum())
    result = SweepResult(table, folder, *write_table(table, folder), ran=len(todo), skipped=skipped, failed=failed)
    draw = sweep.outputs.plots if plots is None else plots
    if draw:
        group = sweep.plots.group_by or (next(iter(sweep.grid), None) if len({s.city for s in specs}) == 1 else "city")
        result.plots, notes = write_plots(
            table, folder, sweep.metrics.radii_m, group, sweep.plots.coverage_radius_m, sweep.name
        )
        result.notes += notes
    result.seconds = time.perf_counter() - started
    return result
