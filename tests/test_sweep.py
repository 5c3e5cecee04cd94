"""
Studies (`rtrl_brian.apps.sweep`): grids, records written as runs end, re-runs that skip
finished runs, failures kept apart, and a Dask worker killed mid-sweep losing nothing.
"""

import os
import pathlib
import re
import signal
import sys

import pytest

import rtrl_brian as rb
from rtrl_brian.apps import cli
from rtrl_brian.apps.sweep import Study, read_record, sweep, write_record
from rtrl_brian.targets import available_threads

pytestmark = pytest.mark.codegen_independent

SQUARE = "sweep_runs:square"


def test_a_grid_is_every_combination_with_the_fixed_values(tmp_path):
    study = Study.grid(SQUARE, {"x": [1, 2, 3], "offset": [0, 0.5]}, {"seconds": 0.0},
                       tmp_path)
    assert len(study.runs) == 6
    assert study.runs["x=2_offset=0.5"] == {"seconds": 0.0, "x": 2, "offset": 0.5}
    assert rb.Study is Study and rb.sweep is sweep


@pytest.mark.parametrize("grid, fixed, message", [
    ({"x": []}, None, "at least one value"),
    ({"x": 3}, None, "at least one value"),
    ({"x": [1]}, {"x": 2}, "both swept and fixed"),
])
def test_bad_grids_are_refused(tmp_path, grid, fixed, message):
    with pytest.raises(ValueError, match=message):
        Study.grid(SQUARE, grid, fixed, tmp_path)


@pytest.mark.parametrize("function, message", [
    ("sweep_runs.square", "'module:name'"), ("sweep_runs:nothing", "cannot be imported"),
    ("no_such_module:run", "cannot be imported")])
def test_a_function_that_cannot_be_found_is_named(tmp_path, function, message):
    with pytest.raises(ValueError, match=message):
        Study.grid(function, {"x": [1]}, out=tmp_path)


def test_runs_in_this_process_write_records_and_a_second_sweep_skips_them(tmp_path):
    study = Study.grid(SQUARE, {"x": [1, 2, 3]}, out=tmp_path / "study")
    seen = []
    first = sweep(study, workers=0, progress=False, on_record=lambda name, r: seen.append(name))
    assert first.ran == seen == ["x=1", "x=2", "x=3"] and not first.failed
    record = read_record(study.record_path("x=3"))
    assert record["square"] == 9.0 and record["trace"] == [0.0, 0.1, 0.2]
    assert record["pid"] == os.getpid()
    again = sweep(Study.grid(SQUARE, {"x": [1, 2, 3, 4]}, out=tmp_path / "study"), workers=0,
                  progress=False)
    assert again.ran == ["x=4"] and list(again.records) == ["x=1", "x=2", "x=3", "x=4"]
    assert not list((tmp_path / "study" / "runs").glob(".*"))  # no partial file left


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path):
    study = Study.grid("sweep_runs:refuse", {"x": [0, 1, 2]}, out=tmp_path)
    result = sweep(study, workers=0, progress=False)
    assert result.ran == ["x=0", "x=2"]
    assert result.failed == {"x=1": "ValueError: odd x=1"}
    assert not study.record_path("x=1").exists()


def test_records_round_to_six_digits_and_replace_atomically(tmp_path):
    path = tmp_path / "run.json.gz"
    write_record(path, {"loss": [0.123456789, 2], "name": "a"})
    write_record(path, {"loss": [1.0 / 3.0], "name": "b"})
    assert read_record(path) == {"loss": [0.333333], "name": "b"}


def test_study_files_in_toml_and_yaml(tmp_path):
    (tmp_path / "squares.toml").write_text(
        'function = "sweep_runs:square"\n[grid]\nx = [1, 2]\n[fixed]\noffset = 1\n')
    study = Study.from_file(tmp_path / "squares.toml")
    assert study.out == tmp_path / "squares" and study.runs["x=2"] == {"offset": 1, "x": 2}
    pytest.importorskip("yaml")
    (tmp_path / "squares.yaml").write_text(
        "function: sweep_runs:square\nout: elsewhere\ngrid:\n  x: [3]\n")
    study = Study.from_file(tmp_path / "squares.yaml")
    assert study.out == tmp_path / "elsewhere" and study.runs == {"x=3": {"x": 3}}
    (tmp_path / "bad.toml").write_text('function = "sweep_runs:square"\ngrids = 1\n')
    with pytest.raises(ValueError, match="unknown key.*grids.*missing grid"):
        Study.from_file(tmp_path / "bad.toml")


def test_without_dask_runs_go_in_this_process_and_a_cluster_names_the_extra(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    study = Study.grid(SQUARE, {"x": [5]}, out=tmp_path)
    with pytest.raises(ImportError, match=r"rtrl_brian\[distributed\]"):
        sweep(study, workers=2, progress=False)
    assert sweep(study, progress=False).ran == ["x=5"]


def test_learners_use_one_thread_each_on_dask_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Dask's nanny sets for its workers
    assert available_threads() == 1 and available_threads(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert available_threads() == len(os.sched_getaffinity(0))


def test_a_worker_killed_mid_sweep_loses_no_finished_run(tmp_path):
    """Two workers of a LocalCluster; the worker that made the first record is killed
    (SIGKILL) while the other runs are queued or running: every run is still made and
    recorded once."""
    distributed = pytest.importorskip("distributed")
    study = Study.grid(SQUARE, {"x": list(range(8))}, {"seconds": 0.4}, tmp_path)
    killed, written = [], []

    def kill_first_worker(name, record):
        written.append(name)
        if not killed:
            killed.append(record["pid"])
            os.kill(record["pid"], signal.SIGKILL)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        result = sweep(study, scheduler=client, progress=False, on_record=kill_first_worker)
        assert result.dashboard == client.dashboard_link
    assert not result.failed and sorted(written) == sorted(study.runs)
    records = study.records()
    assert [records[name]["square"] for name in study.runs] == [x * x for x in range(8)]
    assert killed[0] not in [records[name]["pid"] for name in written[1:]]  # it stayed dead
    # the workers ran with this process's code-generation target (tests/conftest.py's)
    assert {record["target"] for record in records.values()} == {"numpy"}


def test_the_sweep_command_runs_a_study_file(tmp_path, capsys):
    path = tmp_path / "squares.toml"
    path.write_text('function = "sweep_runs:square"\n[grid]\nx = [1, 2]\n')
    assert cli.main(["sweep", str(path), "--workers", "0"]) == 0
    assert "2 run(s) made now; 2 of 2 recorded" in capsys.readouterr().out
    table = (tmp_path / "squares" / "study.md").read_text().splitlines()
    assert table[0] == "| run | x | square | pid | target |"  # swept, then the record's scalars
    assert table[3].startswith("| x=2 | 2 | 4 |")
    assert cli.main(["sweep", str(path), "--workers", "0"]) == 0
    assert "0 run(s) made now; 2 of 2 recorded" in capsys.readouterr().out
    path.write_text('function = "sweep_runs:refuse"\n[grid]\nx = [1]\n')
    assert cli.main(["sweep", str(path), "--workers", "0", "--out", str(tmp_path / "b")]) == 1
    assert "failed: x=1: ValueError: odd x=1" in capsys.readouterr().err


def test_the_readme_study_file_is_the_grid_it_describes_and_runs(tmp_path, capsys):
    """README.md's study file and command, with fewer sequences per run."""
    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    text = re.search(r"```toml\n(# study.toml.*?)```", readme, flags=re.S).group(1)
    command = re.search(r"rtrl-brian (sweep study.toml)", readme).group(1).split()
    (tmp_path / "study.toml").write_text(text)
    study = Study.from_file(tmp_path / "study.toml")
    assert list(study.runs) == ["sparsity=0_seed=0", "sparsity=0_seed=1", "sparsity=0.9_seed=0",
                                "sparsity=0.9_seed=1"]
    assert study.runs["sparsity=0.9_seed=1"]["model"] == "lif"
    (tmp_path / "study.toml").write_text(text.replace("sequences = 200", "sequences = 2")
                                         .replace("test_sequences = 100", "test_sequences = 1")
                                         .replace("seed = [0, 1]", "seed = [0]"))
    assert cli.main([command[0], str(tmp_path / command[1]), "--workers", "0"]) == 0
    assert "2 run(s) made now; 2 of 2 recorded in" in capsys.readouterr().out
    record = read_record(tmp_path / "study" / "runs" / "sparsity=0.9_seed=0.json.gz")
    assert record["sparsity"] == 0.9 and len(record["loss"]) == 2


def test_a_function_beside_the_study_file_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the folder added is taken back after
    (tmp_path / "beside_the_study.py").write_text("def run(x):\n    return {'twice': 2 * x}\n")
    (tmp_path / "study.toml").write_text(
        'function = "beside_the_study:run"\n[grid]\nx = [4]\n')
    study = Study.from_file(tmp_path / "study.toml")
    assert sweep(study, workers=0, progress=False).records["x=4"]["twice"] == 8
