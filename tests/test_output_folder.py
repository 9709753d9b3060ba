"""The output folder is written as a whole: kill -9 leaves the old or the new complete folder, never a mix."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netplan import io as nio
from netplan.errors import NetplanError
from netplan.pipeline import build_plan, write_outputs
from netplan.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _fast_scenario(folder: Path) -> Path:
    """Helsinki without siting (seconds to plan); its routing is skipped with a warning."""
    text = (ROOT / "scenarios" / "helsinki.yaml").read_text(encoding="utf-8")
    path = folder / "helsinki_fast.yaml"
    path.write_text(text.replace("locate:\n  mode: both", "locate:\n  enabled: false\n  mode: both"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory: pytest.TempPathFactory, helsinki_run_city):
    scenario = load_scenario(_fast_scenario(tmp_path_factory.mktemp("scenario")))
    return build_plan(scenario, city=helsinki_run_city)


def _complete(folder: Path) -> str:
    """The manifest's finish stamp if ``folder`` is one complete output, else fail naming what is wrong."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {item["path"]: item for item in manifest["files"]}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert present == set(listed), f"files {sorted(present ^ set(listed))} are not as the manifest lists them"
    for rel, item in listed.items():
        data = (folder / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["bytes"], rel
    return manifest["finished_utc"] + json.dumps(manifest["timings_s"], sort_keys=True)


def _write_in_child(plan, out: Path) -> int:
    pid = os.fork()
    if pid == 0:  # the child writes and leaves without running pytest's teardown
        try:
            write_outputs(plan, out)
        finally:
            os._exit(0)
    return pid


def _kill_while_writing(plan, out: Path, delays: list[float]) -> tuple[list[str], int]:
    """kill -9 a writer after each delay; return the folder's state after each kill and how many hit mid-write."""
    states, mid_write = [], 0
    for delay in delays:
        pid = _write_in_child(plan, out)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        mid_write += (out.parent / f"{out.name}.tmp-{pid}").exists()
        states.append(_complete(out))
    return states, mid_write


@pytest.mark.parametrize("atomic_exchange", [True, False], ids=["renameat2", "two-renames"])
def test_kill_9_while_writing_leaves_old_or_new_complete_folder(tmp_path, fast_plan, monkeypatch, atomic_exchange):
    if not atomic_exchange:  # the fallback of systems without renameat2: two renames, repaired by the next run
        monkeypatch.setattr(nio, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    write_outputs(fast_plan, out)
    first = _complete(out)
    start = time.perf_counter()
    pid = _write_in_child(fast_plan, out)
    os.waitpid(pid, 0)
    whole = time.perf_counter() - start  # one undisturbed write, to spread the kills over it
    second = _complete(out)
    assert second != first
    delays = [whole * f for f in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 1.0, 1.03)]
    states, mid_write = _kill_while_writing(fast_plan, out, delays)
    assert mid_write >= 3, f"only {mid_write} of {len(delays)} kills landed while writing (one write: {whole:.1f} s)"
    seen, before = [first, second], second
    for after in states:  # each kill leaves the folder it found or the one its writer finished (both complete)
        assert after == before or after not in seen
        seen.append(after)
        before = after
    # the next run clears what the killed writers left beside the folder
    write_outputs(fast_plan, out)
    _complete(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_interrupted_write_leaves_previous_folder(tmp_path, fast_plan, monkeypatch):
    """An exception (or Ctrl-C) during writing deletes the staging folder and leaves the previous output."""
    out = tmp_path / "out"
    write_outputs(fast_plan, out)
    before = _complete(out)

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("netplan.pipeline.write_render_outputs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(fast_plan, out)
    assert _complete(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temporaries_of_killed_runs_are_cleaned(tmp_path):
    dead = _dead_pid()
    out = tmp_path / "out"
    # killed between the two renames of the fallback: the old folder aside, the new one staged, none in place
    (tmp_path / f"out.old-{dead}").mkdir()
    (tmp_path / f"out.old-{dead}" / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / f"out.tmp-{dead}").mkdir()
    live = tmp_path / f"out.tmp-{os.getppid()}"  # a running writer's staging folder is not touched
    live.mkdir()
    nio.remove_stale_folders(out)
    assert (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", live.name]
    # hidden temporaries of killed single-file writes, of this and of earlier netplan versions
    maps = tmp_path / "maps"
    maps.mkdir()
    stale = [maps / f".chengdu.html.tmp-{dead}-x1y2.html", maps / ".chengdu.gpkg.k3j4h5g6.tmp.gpkg"]
    for path in stale:
        path.write_text("half", encoding="utf-8")
    running = maps / f".chengdu.html.tmp-{os.getppid()}-a1b2.html"
    running.write_text("being written", encoding="utf-8")
    nio.write_text(maps / "chengdu.html", "<html></html>")
    nio.write_text(maps / "chengdu.gpkg", "not really")
    assert sorted(p.name for p in maps.iterdir()) == sorted(["chengdu.html", "chengdu.gpkg", running.name])


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "netplan.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_bad_out_is_an_error_before_any_solving(tmp_path, monkeypatch, capsys):
    """In this process: the command must refuse before any stage starts, so no process per case is needed."""
    from netplan.cli import main

    monkeypatch.chdir(tmp_path)
    scenario = str(ROOT / "scenarios" / "chengdu.yaml")
    a_file = tmp_path / "plan.txt"
    a_file.write_text("not a folder", encoding="utf-8")
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    cases = [
        (a_file, "is a file, not a folder"),
        (a_file / "out", "is a file, not a folder"),
        (Path("/proc/netplan-out/run1"), "is not writable"),
        (foreign, "is not an output folder of netplan (no manifest.json)"),
        (Path(".."), "does not name a folder of its own"),
    ]
    for out, message in cases:
        start = time.perf_counter()
        code = main(["run", scenario, "--out", str(out)])
        stderr = capsys.readouterr().err
        assert code == 2, stderr
        assert "Traceback" not in stderr and "[1/" not in stderr, stderr  # no stage was started
        assert "--out: " in stderr and message in stderr, stderr
        assert time.perf_counter() - start < 60  # loading the scenario only (the city alone takes ~15 s)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents", "plan.txt"]


def test_read_only_output_folder_is_refused(monkeypatch):
    # under /tmp with world access, so that the check can also be made as an unprivileged user
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o777)
        ro = base / "ro"
        ro.mkdir()
        (ro / "manifest.json").write_text("{}", encoding="utf-8")
        ro.chmod(0o555)
        root = os.geteuid() == 0
        if root:  # root may write anywhere: check as the unprivileged user nobody
            os.seteuid(65534)
        try:
            with pytest.raises(NetplanError, match="the folder .* is not writable") as err:
                nio.check_output_folder(ro, where="--out")
            with pytest.raises(NetplanError, match="its parent folder .* is not writable"):
                nio.check_output_folder(ro / "new", where="--out")
        finally:
            if root:
                os.seteuid(0)
        assert err.value.where == "--out"
        assert nio.check_output_folder(base / "new" / "deeper", where="--out") == base / "new" / "deeper"
    finally:
        (base / "ro").chmod(0o755)
        import shutil

        shutil.rmtree(base)


def test_run_elsewhere_writes_no_map_copy_unless_asked(tmp_path, fast_plan):
    scenario = _fast_scenario(tmp_path)
    proc = _run("run", str(scenario), "--out", str(tmp_path / "o1"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "maps").exists() and "map copy" not in proc.stdout
    proc = _run("run", str(scenario), "--out", str(tmp_path / "o2"), "--maps-dir", str(tmp_path / "m"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "helsinki.html").read_bytes() == (tmp_path / "o2" / "map.html").read_bytes()
    _complete(tmp_path / "o2")


def test_only_empty_or_earlier_output_folders_are_replaced(tmp_path):
    for name, marker in (("run", "manifest.json"), ("sweep_run", "run.json"), ("empty", None)):
        folder = tmp_path / name
        folder.mkdir()
        if marker:
            (folder / marker).write_text("{}", encoding="utf-8")
        assert nio.check_output_folder(folder, where="--out") == folder
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(NetplanError, match="not an output folder of netplan"), nio.replace_folder(tmp_path / "photos"):
        pass
    assert (tmp_path / "photos" / "a.jpg").is_file() and not list(tmp_path.glob("photos.tmp-*"))
    # a folder that only receives files (outputs.maps_dir) may hold anything
    assert nio.check_output_folder(tmp_path / "photos", where="--maps-dir", whole=False) == tmp_path / "photos"


@pytest.mark.parametrize("given", ["scenario", "flag", "environment"])
def test_tianditu_token_reaches_the_map_but_never_the_manifest(tmp_path, given, monkeypatch):
    """The token is a private key: the map's tile URLs need it, the manifest (shared with the plan) must not hold it."""
    token = f"tk-secret-{given}-0123456789"
    scenario = _fast_scenario(tmp_path)
    args = ["run", str(scenario), "--basemap", "tianditu", "--out", str(tmp_path / "o")]
    monkeypatch.delenv("TIANDITU_TOKEN", raising=False)
    if given == "scenario":
        text = scenario.read_text(encoding="utf-8")
        scenario.write_text(text.replace("outputs:\n", f"outputs:\n  tianditu_token: {token}\n"), encoding="utf-8")
    elif given == "flag":
        args += ["--tianditu-token", token]
    else:
        monkeypatch.setenv("TIANDITU_TOKEN", token)  # the child process inherits it
    proc = _run(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "o"
    _complete(out)
    assert token in (out / "map.html").read_text(encoding="utf-8")
    manifest = (out / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(manifest)["files"] and token not in manifest
    assert token not in proc.stdout + proc.stderr
