"""The documentation's code runs as printed."""

import csv
import fnmatch
import json
import pathlib
import re
import tomllib

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


def metrics(path):
    """The columns of a ``metrics.csv`` as float arrays."""
    rows = list(csv.DictReader(path.open()))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


@pytest.mark.codegen_independent
def test_a_short_run_reproduces_the_gallery_demo(tmp_path):
    """The demo's first trials, run now, are the recorded run's (docs/gallery/demo): a
    change of the code that changes the numbers the pages quote fails here, until the
    gallery is made again (examples/make_gallery.py)."""
    from rtrl_brian.apps.demo import run_demo

    run_demo(tmp_path, trials=3)
    now, recorded = metrics(tmp_path / "metrics.csv"), metrics(DOCS / "gallery/demo/metrics.csv")
    for key in ("loss", "score", "active_fraction", "influence_density", "multiply_adds"):
        np.testing.assert_allclose(now[key], recorded[key][:3], rtol=1e-6, err_msg=key)


@pytest.mark.codegen_independent
def test_the_gallery_script_makes_every_run_of_the_page(capsys):
    """examples/make_gallery.py and docs/gallery.md list the same runs."""
    from test_examples import load

    script = load("make_gallery")
    page = (DOCS / "gallery.md").read_text()
    blocks = "\n".join(re.findall(r"```bash\n(.*?)```", page, flags=re.S))
    printed = {line.strip() for line in blocks.splitlines()
               if line.startswith(("rtrl-brian ", "python examples/"))}
    loop = re.search(r"for m in (.*?); do\s*\n\s*(python examples/brian2_models/\$m\.py .*?); "
                     r"done", blocks, flags=re.S)
    models = tuple(loop.group(1).replace("\\", " ").split())
    printed |= {loop.group(2).replace("$m", model) for model in models}
    assert models == script.BRIAN2_MODELS
    assert printed == set(script.RUNS.values())
    assert "python examples/make_gallery.py" in page
    script.main(["--list", "demo", "brian2_models"])
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 + len(models) and listed[0].split()[0] == "demo"


@pytest.mark.codegen_independent
def test_every_template_is_installed_with_the_package():
    """pyproject's package data names every template file (the editable install of the
    tests would not notice a missing one)."""
    package = DOCS.parent / "rtrl_brian"
    patterns = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["rtrl_brian"]
    templates = [path.relative_to(package).as_posix()
                 for path in (package / "templates").rglob("*") if path.is_file()
                 and "__pycache__" not in path.parts]
    assert len(templates) >= 12
    for path in templates:
        assert any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path
