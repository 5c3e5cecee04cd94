"""The documentation's code runs as printed."""

import json
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


def recorded(folder):
    """The held-out score a gallery run recorded in its summary.json."""
    return json.loads((DOCS / folder / "summary.json").read_text())["results"]["test_score"]


#: Held-out results the pages quote, each with the run that recorded it: (page, text
#: with ``{}`` where the number stands, format, folder of the run).
QUOTED = [
    ("gallery.md", "NMSE **{}** on 5 trials after 200", ".3f", "gallery/demo"),
    ("gallery.md", "accuracy **{}** on 200 trials after 2,000", ".1%", "gallery/evidence"),
    ("gallery.md", "accuracy {} per bit after 1,000 trials", ".1%", "gallery/recall"),
    ("gallery.md", "accuracy {} on 500 sequences after 1,000", ".0%", "gallery/spiral"),
    ("gallery.md", "Held-out NMSE {} on 5 trials after 200", ".3f", "images/alif_demo"),
    ("models.md", "held-out NMSE {} over 5 trials", ".3f", "gallery/demo"),
    ("models.md", "ALIF: held-out NMSE {} ", ".3f", "images/alif_demo"),
    ("../README.md", "pattern generation held-out NMSE {}\n", ".3f", "gallery/demo"),
    ("../README.md", "evidence accumulation\n{} held-out", ".0%", "gallery/evidence"),
]


@pytest.mark.codegen_independent
@pytest.mark.parametrize("page, text, form, folder", QUOTED,
                         ids=[f"{page}:{folder}" for page, _, _, folder in QUOTED])
def test_quoted_results_are_the_recorded_ones(page, text, form, folder):
    """Found by a new user: the README quoted an NMSE the code no longer gave. The
    quoted number is the one the gallery run recorded (regenerate both together)."""
    number = format(recorded(folder), form).replace("%", " %")
    assert text.format(number) in (DOCS / page).read_text(), (page, text, number)


@pytest.mark.codegen_independent
def test_the_surrogate_of_your_own_is_the_tested_one():
    """docs/concepts.md's example surrogate is tests/test_plugins.py's `RaisedCosine`,
    which that file runs on every engine and in the binary."""
    from test_plugins import RaisedCosine

    namespace = {}
    block, = [b for b in python_blocks("concepts.md") if "class RaisedCosine" in b]
    exec(compile(block, "concepts.md", "exec"), namespace)
    ours, tested = namespace["RaisedCosine"](0.7, 1.3), RaisedCosine(0.7, 1.3)
    x = np.linspace(-1.0, 1.0, 41)
    np.testing.assert_array_equal(ours(x), tested(x))
    assert ours.c_expression("x") == tested.c_expression("x")
    assert ours.support == tested.support
