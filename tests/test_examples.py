"""The example scripts run (tiny settings) and write their figures."""

import importlib.util

import pytest

from rtrl_brian.apps import experiments

from helpers import ROOT, load_script

EXAMPLES = ROOT / "examples"


def load(name):
    return load_script(EXAMPLES, name)


@pytest.mark.codegen_independent
def test_lif_pattern_generation_example(tmp_path):
    load("lif_pattern_generation").main(["--trials", "2", "--neurons", "10",
                                         "--out", str(tmp_path)])
    assert (tmp_path / "lif_pattern.png").stat().st_size > 10_000


@pytest.mark.long
@pytest.mark.standalone
def test_lif_pattern_generation_example_in_the_binary(tmp_path):
    load("lif_pattern_generation").main(["--trials", "3", "--neurons", "10", "--standalone",
                                         "--out", str(tmp_path)])
    assert (tmp_path / "lif_pattern.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_train_on_task_example(tmp_path):
    load("train_on_task").main(["recall", "--model", "egru", "--units", "6", "--trials", "2",
                                "--test-trials", "1", "--out", str(tmp_path)])
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_spiral_study_example_replots(tmp_path):
    """Through a one-worker Dask cluster where Dask is installed: the real training runs
    on a worker process."""
    study = load("spiral_study")
    workers = "1" if importlib.util.find_spec("distributed") else "0"
    study.main(["--model", "lif", "--units", "4", "--levels", "0", "--seeds", "0",
                "--sequences", "3", "--test-sequences", "2", "--workers", workers,
                "--out", str(tmp_path)])
    table = (tmp_path / "spiral_study.md").read_text()
    assert "| 0.0 | yes | 1 |" in table and "control" not in table  # no control for LIF
    study.main(["--replot", "--out", str(tmp_path)])
    assert (tmp_path / "spiral_sparsity.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_spiral_study_resumes(tmp_path, monkeypatch):
    study = load("spiral_study")
    arguments = ["--model", "lif", "--units", "4", "--levels", "0", "0.5", "--seeds", "0",
                 "--sequences", "2", "--test-sequences", "1", "--workers", "0",
                 "--out", str(tmp_path)]
    study.main(arguments[:6] + arguments[7:])  # level 0 only
    first = study.load_runs(tmp_path)
    assert [run.sparsity for run in first] == [0.0]
    trained = []
    original = experiments.train_spiral

    def counting(**kwargs):
        trained.append(kwargs["sparsity"])
        return original(**kwargs)

    monkeypatch.setattr(experiments, "train_spiral", counting)
    study.main(arguments)
    assert trained == [0.5]  # level 0 was not trained again
    runs = study.load_runs(tmp_path)
    assert sorted(run.sparsity for run in runs) == [0.0, 0.5]
    assert runs[0].loss == pytest.approx(first[0].loss, rel=1e-5)  # six significant digits
    assert "| 0.5 | yes | 1 |" in (tmp_path / "spiral_study.md").read_text()


@pytest.mark.codegen_independent
def test_spiral_study_without_control_and_with_the_activity_settings(tmp_path):
    study = load("spiral_study")
    common = ["--model", "egru", "--units", "3", "--levels", "0.5", "--seeds", "0",
              "--sequences", "2", "--test-sequences", "1", "--no-control", "--workers", "0"]
    study.main(common + ["--out", str(tmp_path / "plain")])
    assert [run.activity_sparse for run in study.load_runs(tmp_path / "plain")] == [True]
    assert "control" not in (tmp_path / "plain" / "spiral_study.md").read_text()
    study.main(common + ["--activity-weight", "0.01", "--thresholds", "beta", "--theta", "0.3",
                         "--surrogate-width", "0.2", "--compare", str(tmp_path / "plain"),
                         "--out", str(tmp_path / "regularised")])
    (run,) = study.load_runs(tmp_path / "regularised")
    assert (run.activity_weight, run.thresholds) == (0.01, "beta")
    table = (tmp_path / "regularised" / "spiral_study.md").read_text()
    assert "| 0.5 | yes | 1 |" in table  # the compared study's run
    assert "| 0.5 | yes (regulariser 0.01, Beta thresholds, surrogate width 0.2) | 1 |" in table
    assert (tmp_path / "regularised" / "spiral_settings.png").stat().st_size > 10_000
    study.main(["--cost-curve", str(tmp_path / "plain"), str(tmp_path / "regularised"),
                "--out", str(tmp_path / "cost")])
    cost = (tmp_path / "cost" / "spiral_cost.md").read_text()
    assert "| egru | yes | 0.5 | 3 | 1 |" in cost
    assert "| egru | yes (regulariser 0.01, Beta thresholds, surrogate width 0.2) | 0.5 | 3 | 1 |" \
        in cost
    assert (tmp_path / "cost" / "spiral_cost.png").stat().st_size > 10_000
