"""The example scripts run (tiny settings) and write their figures."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.codegen_independent
def test_lif_pattern_generation_example(tmp_path):
    load("lif_pattern_generation").main(["--trials", "2", "--neurons", "10",
                                         "--out", str(tmp_path)])
    assert (tmp_path / "lif_pattern.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_train_on_task_example(tmp_path):
    load("train_on_task").main(["recall", "--model", "egru", "--units", "6", "--trials", "2",
                                "--test-trials", "1", "--out", str(tmp_path)])
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


@pytest.mark.codegen_independent
def test_spiral_study_example_replots(tmp_path):
    study = load("spiral_study")
    study.main(["--model", "lif", "--units", "4", "--levels", "0", "--seeds", "0",
                "--sequences", "3", "--test-sequences", "2", "--out", str(tmp_path)])
    table = (tmp_path / "spiral_study.md").read_text()
    assert "| 0.0 | yes | 1 |" in table and "control" not in table  # no control for LIF
    study.main(["--replot", "--out", str(tmp_path)])
    assert (tmp_path / "spiral_sparsity.png").stat().st_size > 10_000
