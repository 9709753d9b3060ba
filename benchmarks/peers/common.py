"""What the routing benchmark scripts share: running one solver on one instance, checking it, storing the record.

Every solver's routes are checked the same way:

- by :func:`netplan.route.simulate.simulate` on netplan's integer problem
  (the same matrices every solver got), the ``sim_ok`` column;
- by :func:`benchmarks.instances.check_routes` in the instance's own
  convention (double precision for Solomon; DIMACS one-decimal truncation for
  the VRPLIB sets), including release dates where the file has them, the
  ``exact_ok`` column;

and the distance reported is recomputed from the coordinates
(:func:`~benchmarks.instances.route_length`, double precision) and, for
the DIMACS sets, also in the set's convention (``cost_int``: sum of per-leg
truncated distances x 10), independently of the solver's objective.

Records are appended to a JSON-lines file, one per (solver, instance, mode,
time limit, seed), so a long run can be split, resumed and reported later.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "benchmarks" / "vrptw"
RESULTS = REPO / "benchmarks" / "results"


def log(msg: str) -> None:
    """Progress on stderr."""
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Task:
    """One run: ``solver`` on the instance file ``path`` with fleet ``vehicles`` (``None``: the file's)."""

    solver: str
    path: str
    mode: str
    time_limit: float
    seed: int = 0
    vehicles: int | None = None
    convention: str = "exact"  # "exact": scale 1000 rounded (Solomon); "dimacs": scale 10 truncated (VRPLIB)
    release: bool = True  # whether the peer models release dates (PyVRP direct only)
    rule: str = "wall"  # "wall": time_limit is wall-clock seconds; "cpu": CPU seconds of the search (netplan-pyvrp)

    @property
    def key(self) -> tuple:
        return (self.solver, Path(self.path).stem, self.mode, float(self.time_limit), self.seed, self.rule)


# With the CPU rule the wall clock is only a safety cap, this many times the CPU limit (a loaded machine).
CPU_WALL_CAP = 20.0


def record_key(rec: dict) -> tuple:
    return (rec["solver"], rec["instance"], rec["mode"], float(rec["time_limit"]), rec["seed"], rule_of(rec))


def rule_of(rec: dict) -> str:
    """The stopping rule of a record: ``"cpu"`` or ``"wall"`` (records before the CPU rule existed)."""
    return str(rec.get("rule", "wall"))


def load_records(path: Path) -> list[dict]:
    """All records of a JSON-lines file (empty if absent)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def run_task(task: Task) -> dict:
    """Run one task and check its routes (in a worker process)."""
    from benchmarks.instances import (
        check_routes,
        parse_instance,
        release_violations,
        route_length,
        solution_from_routes,
        to_problem,
    )
    from netplan.route.simulate import simulate

    inst = parse_instance(task.path)
    scale, rounding = (1000, "round") if task.convention == "exact" else (10, "trunc")
    dimacs = task.convention == "dimacs"
    problem = to_problem(inst, scale=scale, rounding=rounding, vehicles=task.vehicles)
    rec: dict[str, Any] = {
        "solver": task.solver,
        "instance": inst.name,
        "mode": task.mode,
        "time_limit": task.time_limit,
        "rule": task.rule,
        "seed": task.seed,
        "fleet": problem.num_vehicles,
        "customers": inst.num_customers,
        "date": _dt.date.today().isoformat(),
        "load_before": round(os.getloadavg()[0], 2),
        "convention": task.convention,
    }
    began = time.perf_counter()
    cpu_began = time.process_time()
    try:
        routes, solver_feasible, info, sim_solution = _solve(task, inst, problem, scale, rounding)
    except Exception as exc:  # a solver failing on an instance is a result to report, not a crash of the run
        rec.update(
            runtime_s=time.perf_counter() - began,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=4),
            found=False,
            sim_ok=False,
            exact_ok=False,
        )
        return rec
    rec["runtime_s"] = round(time.perf_counter() - began, 3)
    rec["cpu_s"] = round(time.process_time() - cpu_began, 3)
    if sim_solution is None:
        sim_solution = solution_from_routes(problem, routes, engine=task.solver, num_depots=inst.num_depots)
    sched = simulate(problem, sim_solution)
    served = {n for r in routes for n in r if n >= inst.num_depots}
    rec["found"] = bool(routes) and len(served) == inst.num_customers
    rec["solver_feasible"] = bool(solver_feasible)
    rec["sim_ok"] = sched.ok
    rec["sim_violations"] = sched.violations[:5]
    rec["sim_violation_count"] = len(sched.violations)
    exact = check_routes(inst, routes, vehicles=problem.num_vehicles, release=True, dimacs=dimacs)
    rec["exact_ok"] = not exact and rec["found"]
    rec["exact_violations"] = exact[:5]
    rec["vehicles"] = sum(1 for r in routes if r)
    rec["trips"] = sum(1 + sum(1 for n in r if n < inst.num_depots) for r in routes if r)
    rec["distance"] = round(route_length(inst, routes), 4) if rec["found"] else None
    rec["cost_int"] = int(sim_solution.distance(problem)) if rec["found"] else None  # in the problem's integer units
    if inst.has_release:
        rec["release_violating_routes"] = release_violations(inst, routes, dimacs=dimacs)
        rec["exact_ok_without_release"] = rec["found"] and not check_routes(
            inst, routes, vehicles=problem.num_vehicles, release=False, dimacs=dimacs
        )
    rec["info"] = {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool, type(None)))}
    rec["routes"] = routes
    return rec


def _solve(task: Task, inst, problem, scale, rounding):
    """(routes as node lists, solver's feasibility verdict, info, netplan RouteSolution or None)."""
    from benchmarks.instances import routes_of

    if task.solver.startswith("netplan-"):
        from netplan.route.engines import solve

        engine = task.solver.split("-", 1)[1]
        engine, _, starts = engine.partition("*")  # "netplan-pyvrp*3": three independent starts sharing the time
        problem.validate()
        options: dict = {}
        if engine == "pyvrp-whole":  # the engine's settings without the route decomposition (the default until 12-03)
            from dataclasses import replace

            from netplan.route.engines.pyvrp import build_data, search_settings

            engine, options = "pyvrp", {"search": replace(search_settings(build_data(problem)[0]), decompose=None)}
        info_extra = {"engine_sha1": _sha1(REPO / "netplan" / "route" / "engines" / f"{engine}.py")}
        limits: dict[str, float] = {"time_limit_s": task.time_limit}
        if task.rule == "cpu":
            if engine != "pyvrp":  # several starts share the CPU seconds (engines.solve)
                raise ValueError(f"the CPU rule is for netplan-pyvrp, not {task.solver}")
            limits = {"time_limit_s": task.time_limit * CPU_WALL_CAP, "cpu_limit_s": task.time_limit}
        k = int(starts or 1)
        # one process per start, side by side: asked for, since under a script netplan keeps them in one
        sol = solve(problem, engine=engine, seed=task.seed, starts=k, workers=k, **limits, **options)
        return routes_of(sol, inst.num_depots), sol.feasible and not sol.dropped, {**sol.info, **info_extra}, sol
    if task.rule != "wall":
        raise ValueError(f"the CPU rule is implemented for netplan-pyvrp only, not {task.solver}")
    if task.solver.startswith("ortools-doc"):
        from benchmarks.peers import ortools_doc

        first = "PARALLEL_CHEAPEST_INSERTION" if task.solver == "ortools-doc-pci" else "PATH_CHEAPEST_ARC"
        res = ortools_doc.solve(
            inst, task.time_limit, vehicles=task.vehicles, scale=scale, rounding=rounding, first_solution=first
        )
        return res.routes, res.feasible, res.info, None
    if task.solver in ("pyvrp", "pyvrp-norelease"):
        from benchmarks.peers import pyvrp_direct

        release = task.solver == "pyvrp"
        if task.path.endswith(".vrp") and task.convention == "dimacs":
            res = pyvrp_direct.solve(
                task.path, task.time_limit, seed=task.seed, vehicles=task.vehicles, release=release
            )
        else:
            res = pyvrp_direct.solve(
                inst,
                task.time_limit,
                seed=task.seed,
                vehicles=task.vehicles,
                scale=scale,
                rounding=rounding,
                release=release,
            )
        return res.routes, res.feasible, res.info, None
    raise ValueError(f"unknown solver {task.solver!r}")


def _sha1(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()[:10]
    except OSError:
        return "?"


def run_all(tasks: list[Task], runs_file: Path, jobs: int = 1, fresh: bool = False) -> list[dict]:
    """Run the tasks not yet in ``runs_file`` (all with ``fresh``), appending each record as it finishes."""
    done = {record_key(r) for r in load_records(runs_file)} if not fresh else set()
    todo = [t for t in tasks if t.key not in done]
    log(
        f"{len(tasks)} tasks, {len(tasks) - len(todo)} already in {runs_file.name}, running {len(todo)} "
        f"with {jobs} job(s)"
    )
    runs_file.parent.mkdir(parents=True, exist_ok=True)
    out: list[dict] = []
    if not todo:
        return out
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool, open(runs_file, "a") as fh:
        futures = {pool.submit(run_task, t): t for t in todo}
        for k, fut in enumerate(as_completed(futures), start=1):
            task = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # the worker died
                rec = {
                    "solver": task.solver,
                    "instance": Path(task.path).stem,
                    "mode": task.mode,
                    "time_limit": task.time_limit,
                    "rule": task.rule,
                    "seed": task.seed,
                    "error": f"worker: {exc!r}",
                    "found": False,
                    "sim_ok": False,
                    "exact_ok": False,
                }
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            out.append(rec)
            dist = f"{rec['distance']:.2f}" if rec.get("distance") is not None else "-"
            log(
                f"[{k}/{len(todo)} {time.perf_counter() - began:.0f}s] {rec['solver']:16s} {rec['instance']:12s} "
                f"mode {rec['mode']} t={rec['time_limit']:g} {rule_of(rec)}: veh {rec.get('vehicles', '-')} "
                f"dist {dist} "
                f"sim_ok {rec.get('sim_ok')} exact_ok {rec.get('exact_ok')} {rec.get('error', '')}"
            )
    return out


def machine() -> str:
    """One line about the machine, for the results files."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions() -> str:
    """Solver versions used."""
    parts = []
    try:
        from importlib.metadata import version

        for pkg in ("ortools", "pyvrp", "vrplib"):
            with contextlib.suppress(Exception):
                parts.append(f"{pkg} {version(pkg)}")
    except Exception:
        pass
    return ", ".join(parts)


def fmt(v: float | None, spec: str = ".2f", none: str = "–") -> str:
    return none if v is None else format(v, spec)


def mean(values: Iterable[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def git_head() -> str:
    try:
        import subprocess

        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except Exception:
        return "?"


def select(records: list[dict], **eq: Any) -> list[dict]:
    return [r for r in records if all(r.get(k) == v for k, v in eq.items())]


def latest(records: list[dict]) -> list[dict]:
    """Keep the last record per key (re-runs replace earlier ones)."""
    seen: dict[tuple, dict] = {}
    for r in records:
        seen[record_key(r)] = r
    return list(seen.values())


def expand_instances(
    spec: str, folder: Path, pattern: str, one_per_class: Callable[[list[Path]], list[Path]]
) -> list[Path]:
    """Instance files from ``all``, ``one-per-class``, a glob, or a comma list of names/globs."""
    files = sorted(folder.glob(pattern))
    if spec == "all":
        return files
    if spec == "one-per-class":
        return one_per_class(files)
    import fnmatch

    out: list[Path] = []
    for part in spec.split(","):
        part = part.strip()
        hit = [f for f in files if fnmatch.fnmatch(f.stem, part) or f.stem == part]
        if not hit:
            raise SystemExit(f"no instance matches {part!r} in {folder}")
        out += [f for f in hit if f not in out]
    return out


def publish(
    runs_file: Path, out: Path, write_md: Callable[[list[dict], Path], None], render: Callable[[list[dict]], str]
) -> None:
    """Rebuild a benchmark's markdown report from its runs file and print the table of this run."""
    records = load_records(runs_file)
    if not records:
        raise SystemExit(f"no records in {runs_file}")
    write_md(records, out)
    print(render(records))
    log(f"wrote {out}")


def time_shown(records: list[dict], wanted: float) -> float:
    """The time limit whose table to print: the one asked for if it was run, else the latest one."""
    return wanted if any(float(r["time_limit"]) == wanted for r in records) else float(records[-1]["time_limit"])
