"""Sweeps: many variants of a scenario, run on a dask cluster, one tidy table out.

A sweep file names a base scenario and the values to vary::

    name: radius_capacity
    base: ../chengdu.yaml            # relative to this file
    seed: 42
    set:                             # the same for every run (not a column of the table)
      locate.node_limit: 1
    grid:                            # cartesian product of every list
      tiers[0].radius_m: [300, 400, 500]
      tiers[0].capacity_kg_day: [800, 1500]
    runs:                            # and/or explicit variants (combined with the grid)
      - {locate.mode: bottom_up}
    cities: [../../data/chengdu_central.osm.bz2]   # optional: city sources or scenario files
    metrics: {radii_m: [300, 500, 800]}
    outputs: {dir: ../../outputs/sweeps/radius_capacity, per_run: true}

Keys are paths into the scenario (``tiers[0].radius_m``,
``locate.time_limit_s``, ``city.source``); every run's scenario is
validated by the same model as a scenario file, so a misspelt key fails
before anything runs, naming the sweep file and the key.

:func:`run_sweep` sends the runs to dask.distributed (a
:class:`~distributed.LocalCluster` of single-threaded worker processes, or
an existing scheduler) and writes:

* ``runs.csv`` and ``runs.parquet``: one row per run with ``run_id``,
  ``city``, one column per varied key, ``status``, ``error``, timing
  columns and the coverage metrics of :func:`netplan.evaluate.plan_metrics`;
* ``runs/<run_id>/``: the run's GeoPackage, ``kpis.csv``, ``manifest.json``
  and ``metrics.json`` (with ``outputs.per_run``), and ``run.json``, the
  marker that says the run finished;
* ``coverage_vs_radius.png`` and ``cost_vs_coverage.png``.

A run's id is a hash of its full settings (base scenario plus overrides and
the metric radii). Re-running a sweep skips every run with a marker;
failed runs are recorded with their error and retried only when asked.
Each worker process loads a city once and keeps it (with its memoised
travel matrices) for every later run on that city.
"""

from netplan.batch.report import build_table, write_plots, write_table
from netplan.batch.runner import SweepResult, booking_metrics, run_one, run_sweep
from netplan.batch.spec import (
    RUN_MARKER,
    TIMING_COLUMNS,
    RunSpec,
    Sweep,
    expand,
    key_path,
    load_sweep,
    parse_key,
    run_id_of,
    set_key,
)

__all__ = [
    "RUN_MARKER",
    "TIMING_COLUMNS",
    "RunSpec",
    "Sweep",
    "SweepResult",
    "booking_metrics",
    "build_table",
    "expand",
    "key_path",
    "load_sweep",
    "parse_key",
    "run_id_of",
    "run_one",
    "run_sweep",
    "set_key",
    "write_plots",
    "write_table",
]
