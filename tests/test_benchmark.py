"""The benchmark suite runs end to end on tiny sizes and reports what it measured."""

import json
import re
from dataclasses import asdict

import numpy as np
import pytest

from rtrl_brian.apps.benchmark import (compiled_study, dense_floor, projected_speedup,
                                       run_benchmarks, serial_fraction, target_study,
                                       thread_study, thread_table)
from rtrl_brian.apps.cli import build_parser
from rtrl_brian.targets import available_threads

from helpers import library_log, load_script


def test_suite_writes_every_table(tmp_path):
    with library_log() as records:
        results = run_benchmarks(tmp_path, sizes=(16,), sparsity_n=16, lengths=(10, 20),
                                 steps=3, target="numpy")
    said = [message for _, _, message in records]
    assert said[0] == "machine rates ..." and "RTRL vs BPTT ..." in said
    report = (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["machine"]["target"] == "numpy"
    assert (tmp_path / "benchmarks.png").stat().st_size > 10_000
    dense, both, parameter_only, activity_only = results["sparsity"]
    assert dense["engine"] == "dense" and both["engine"] == "sparse"
    # the sparse engine counts less work than the dense one, each sparsity on its own too
    assert both["multiply_adds"] < parameter_only["multiply_adds"] < dense["multiply_adds"]
    assert activity_only["multiply_adds"] < dense["multiply_adds"]
    assert both["n_params"] < dense["n_params"]
    assert results["dense_floor_ms"] > 0 and "One dense product `J @ M`" in report
    assert "targets" not in results  # numpy run: nothing to compare against
    assert [row["steps"] for row in results["rtrl_vs_bptt"]] == [10, 20]
    bptt = [row["bptt_bytes"] for row in results["rtrl_vs_bptt"]]
    assert bptt[1] > bptt[0]  # the tape grows with the sequence
    assert "x roofline bound" in report and "relative gradient error" in report


def test_dense_floor_times_one_product():
    assert 0 < dense_floor(8, 64, repeats=1) < 1.0


@pytest.mark.long  # Brian2 compiles the benchmark network's objects: a minute on a cold cache
@pytest.mark.cython
def test_target_study_compares_numpy_and_cython_kernels():
    from brian2 import prefs

    prefs.codegen.target = "numpy"
    costs = target_study((16,), steps=3)
    assert [cost.label for cost in costs] == ["sparse n=16, numpy target",
                                              "sparse n=16, cython target"]
    # the same network (only the Poisson input streams differ between the targets)
    assert costs[0].n_params == costs[1].n_params and costs[1].multiply_adds > 0
    assert prefs.codegen.target == "numpy"  # restored


@pytest.mark.cython
@pytest.mark.long  # benchmark plumbing (15 s): the default run stays under 5 minutes
def test_compiled_study_compares_the_engines_on_one_network():
    """Brian2 on numpy: only the learning step is compiled (the study itself runs on the
    cython target: tests/test_benchmark.py's long standalone study covers the compiled
    engine beside Brian2's cython objects)."""
    sparse, compiled = compiled_study((12,), steps=3)
    assert (sparse.engine, compiled.engine) == ("sparse", "compiled")
    assert sparse.n_params == compiled.n_params
    assert sparse.multiply_adds_dense == compiled.multiply_adds_dense  # same network and run


@pytest.mark.cython
@pytest.mark.long  # benchmark plumbing (15 s): the default run stays under 5 minutes
def test_thread_study_times_every_thread_count_on_one_network():
    """Brian2 on numpy (the compiled engine compiles its step all the same)."""
    costs = thread_study((40,), steps=3, rounds=2, warmup=2, engines=("compiled", "sparse"))
    counts = list(range(1, available_threads() + 1))
    assert [(cost.engine, cost.threads) for cost in costs] == \
        [("compiled", k) for k in counts] + [("sparse", k) for k in counts]
    assert all(0 < c.engine_ms_min <= c.engine_ms_median and
               c.engine_ms_min <= c.learner_ms_min <= c.learner_ms_median for c in costs)
    assert costs[0].threads_used == 1
    table = "\n".join(thread_table([asdict(cost) for cost in costs]))
    assert table.count("| compiled n=40 |") == len(counts)


@pytest.mark.long
@pytest.mark.standalone
def test_thread_study_alternates_the_binaries_of_each_thread_count(monkeypatch):
    from rtrl_brian.apps import benchmark

    folders, build = [], benchmark._standalone_build

    def recorded(directory=None):
        folders.append(directory)
        return build(directory)

    monkeypatch.setattr(benchmark, "_standalone_build", recorded)
    costs = thread_study((40,), steps=5, rounds=2, warmup=2, engines=("binary",))
    counts = list(range(1, available_threads() + 1))
    assert [(cost.engine, cost.threads) for cost in costs] == [("binary", k) for k in counts]
    assert folders == folders[:len(counts)] * 2  # each count's folder again in round 2
    assert len(set(folders)) == len(counts)
    assert all(0 < c.engine_ms_min <= c.engine_ms_median and
               c.engine_ms_min <= c.learner_ms_min <= c.learner_ms_median for c in costs)


def test_serial_fraction_inverts_amdahls_law():
    for serial in (0.0, 0.1, 0.5):
        many = 10.0 * (serial + (1 - serial) / 4)
        assert abs(serial_fraction(10.0, many, 4) - serial) < 1e-12
        assert abs(projected_speedup(serial, 4) - 10.0 / many) < 1e-12
    assert projected_speedup(-0.1, 16) == 16.0  # superlinear: no more than linear


def test_cli_bench_arguments():
    args = build_parser().parse_args(["bench", "--sizes", "64", "--target-sizes"])
    assert args.target_sizes == [] and args.sizes == [64]
    assert build_parser().parse_args(["bench"]).target_sizes == [256, 1024]
    assert build_parser().parse_args(["bench"]).compiled_sizes == [16, 64, 256]
    assert build_parser().parse_args(["bench"]).standalone_sizes == [64, 256]
    assert build_parser().parse_args(["bench"]).thread_sizes == [256, 1024]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--target-sizes", "0"])
    assert np.isfinite(build_parser().parse_args(["bench", "--steps", "5"]).steps)


@pytest.mark.long
@pytest.mark.cython
@pytest.mark.standalone
def test_standalone_study_runs_the_learner_on_every_target():
    from brian2 import get_device, prefs
    from brian2.devices.device import RuntimeDevice

    from rtrl_brian.apps.benchmark import standalone_study

    prefs.codegen.target = "numpy"
    costs = standalone_study((12,), steps=5, warmup=2)
    assert [(cost.target, cost.engine) for cost in costs] == [
        ("numpy", "sparse"), ("cython", "compiled"), ("cpp_standalone", "compiled")]
    assert all(0 < cost.learner_ms < 2 * cost.step_ms for cost in costs)  # a part of it
    assert isinstance(get_device(), RuntimeDevice) and prefs.codegen.target == "numpy"


@pytest.mark.codegen_independent
def test_constructs_benchmark_runs(tmp_path):
    constructs = load_script("benchmarks", "constructs")
    times = constructs.main(["--neurons", "10", "--steps", "12", "--rounds", "1",
                             "--out", str(tmp_path)])
    assert set(times) == set(constructs.VARIANTS)
    assert all(learner > 0 and whole > learner and nbytes > 0
               for (learner, whole, nbytes), in times.values())
    table = (tmp_path / "constructs.md").read_text()
    assert all(f"| {variant} |" in table for variant in constructs.VARIANTS)


@pytest.mark.cython
@pytest.mark.long  # benchmark plumbing, as the thread study's test
def test_threads_benchmark_writes_its_table(tmp_path):
    costs = load_script("benchmarks", "threads").main(["--sizes", "40", "--engines", "compiled",
                                               "--steps", "3", "--rounds", "1",
                                               "--out", str(tmp_path)])
    assert [cost["threads"] for cost in costs] == list(range(1, available_threads() + 1))
    assert json.loads((tmp_path / "threads.json").read_text()) == costs
    assert (tmp_path / "threads.md").read_text().count("| compiled n=40 |") == len(costs)


@pytest.mark.cython
@pytest.mark.long  # benchmark plumbing, as the thread study's test
def test_bookkeeping_benchmark_compares_both_ways():
    rows = load_script("benchmarks", "bookkeeping").main(["--sizes", "40", "--steps", "3",
                                                          "--rounds", "1"])
    pair = r"[\d.]+ / [\d.]+"
    assert len(rows) == 3
    assert re.fullmatch(rf"\| 40 \| {pair} \| {pair} \| [\d.]+x \| {pair} \|", rows[2])
