"""The documentation's code runs as printed."""

import pathlib
import re

import numpy as np
import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


@pytest.mark.codegen_independent
def test_quickstart_network_learns_and_checks(capsys):
    """'Your own network' and its gradient check, as in docs/quickstart.md."""
    network, check = python_blocks("quickstart.md")[:2]
    namespace = {}
    exec(compile(network, "quickstart.md", "exec"), namespace)
    assert namespace["learner"].gradient(namespace["s_rec"].w).shape == (
        len(namespace["s_rec"]),)
    exec(compile(check, "quickstart.md", "exec"), namespace)
    assert "relative error (RTRL vs BPTT)" in capsys.readouterr().out
    learner = namespace["learner"]
    steps_before = len(learner.history["loss"])
    weights_before = namespace["s_rec"].w[:].copy()
    exec(compile(check, "quickstart.md", "exec"), namespace)
    assert len(learner.history["loss"]) == steps_before  # the attached learner was paused
    assert (namespace["s_rec"].w[:] == weights_before).all()


@pytest.mark.codegen_independent
def test_readme_code_runs_as_printed(capsys):
    """Every Python block of README.md, in order, in one namespace."""
    readme = (DOCS.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "relative error (RTRL vs BPTT)" in printed
    gradient = namespace["learner"].gradient(namespace["s_rec"].w)
    assert np.abs(gradient).max() > 0  # the weights are set: a real gradient
