"""The front door: ``import netplan`` exports, version, validated edits, and the CLI's common flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

import netplan
from netplan.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light_and_has_a_version():
    code = (
        "import sys, netplan; print(netplan.__version__); "
        "print('netplan.pipeline' in sys.modules, 'geopandas' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    version, pipeline, geopandas = proc.stdout.split()
    assert version == netplan.__version__ and version[0].isdigit()
    assert (pipeline, geopandas) == ("False", "False"), "import netplan must not pull in the pipeline"


def test_exports_are_the_real_objects():
    from netplan.locate.coverage import LSCP
    from netplan.pipeline import build_plan
    from netplan.plan import Plan
    from netplan.render import plan_map
    from netplan.route.engines import solve

    assert netplan.build_plan is build_plan and netplan.Plan is Plan and netplan.LSCP is LSCP
    assert netplan.solve is solve and netplan.plan_map is plan_map
    for name in netplan.__all__:
        assert getattr(netplan, name) is not None, name
        assert name in dir(netplan)
    with pytest.raises(AttributeError):
        netplan.no_such_thing  # noqa: B018


def test_scenario_edits_are_validated(helsinki_scenario):
    sc = helsinki_scenario.model_copy(deep=True)
    with pytest.raises(pydantic.ValidationError, match="radius_m"):
        sc.tiers[0].radius_m = -5
    with pytest.raises(pydantic.ValidationError, match="mode"):
        sc.locate.mode = "sideways"
    sc.tiers[0].radius_m = 450
    assert sc.tiers[0].radius_m == 450.0


def test_version_flag_and_verbosity_on_every_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"netplan {netplan.__version__}"
    parser = build_parser()
    for argv in (
        ["run", "x.yaml"],
        ["compare", "a", "b", "--out", "c.html"],
        ["validate", "x.yaml"],
        ["info", "x"],
        ["evaluate", "osm"],
        ["batch", "s.yaml"],
        ["render", "out"],
    ):
        assert parser.parse_args([*argv, "-q"]).verbosity == -1
        assert parser.parse_args([argv[0], "--verbose", *argv[1:]]).verbosity == 1
        assert parser.parse_args(argv).verbosity == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["validate", "x.yaml", "-q", "-v"])
    # --debug before or after the subcommand
    assert parser.parse_args(["--debug", "validate", "x.yaml"]).debug is True
    assert parser.parse_args(["validate", "x.yaml", "--debug"]).debug is True
    assert parser.parse_args(["validate", "x.yaml"]).debug is False


def test_quiet_silences_progress(tmp_path, capsys):
    scenario = ROOT / "scenarios" / "helsinki.yaml"
    assert main(["validate", str(scenario), "-v"]) == 0
    assert "valid" in capsys.readouterr().out
    from netplan.cli import _progress

    main(["validate", str(scenario), "-q"])
    _progress("a progress line")
    assert "a progress line" not in capsys.readouterr().err
    main(["validate", str(scenario)])
    _progress("a progress line")
    assert "a progress line" in capsys.readouterr().err


def test_every_subcommand_help_has_an_example(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them only there
    for name in commands:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        text = capsys.readouterr().out
        assert "example" in text and f"  netplan {name} " in text, name
