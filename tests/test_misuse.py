"""
The misuse catalogue: each wrong call is refused with a message that names what
is wrong, and leaves the network, the parameters and the learner as they were.
"""

import copy
import gc
import re

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, Synapses, defaultclock, ms
from brian2.core.base import BrianObjectException

import rtrl_brian as rb


def build():
    """A small network, a learner attached and run for a few steps."""
    rng = np.random.default_rng(0)
    rec = NeuronGroup(4, """dv/dt = -v / (10*ms) : 1
                            v_th : 1 (constant)
                            k : integer
                            drive = 2 * v : 1""",
                      threshold="v > v_th", reset="v -= v_th", method="euler", name="rec")
    rec.v, rec.v_th = rng.uniform(0, 1.2, 4), 1.0
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v_post += w", name="s_rec")
    s_rec.connect()
    s_rec.w = rng.normal(0.3, 0.2, len(s_rec))
    s_out = Synapses(rec, out, "w : 1", on_pre="y_post += w", name="s_out")
    s_out.connect()
    s_out.w = rng.normal(0, 0.5, len(s_out))
    loss = rb.losses.MSE(out.y, np.zeros((10, 2)))
    learner = rb.RTRL([s_rec.w, s_out.w], loss, optimizer=rb.optim.SGD(lr=0.1), name="learner")
    net = Network(rec, out, s_rec, s_out, learner)
    net.run(3 * ms)
    return dict(rec=rec, out=out, s_rec=s_rec, s_out=s_out, loss=loss, learner=learner, net=net)


#: Clock variables, which follow dt (changing dt is one of the misuses).
CLOCK = ("dt", "t_in_timesteps")


def snapshot(objects):
    """Every variable of every group (but `CLOCK`), the time, the learner's whole state."""
    state = {name: {var: np.array(obj.variables[var].get_value(), copy=True)
                    for var in obj.variables if not var.startswith("_")
                    and var.removesuffix("_pre").removesuffix("_post") not in CLOCK
                    and type(obj.variables[var]).__name__ != "Subexpression"}
             for name, obj in objects.items() if name in ("rec", "out", "s_rec", "s_out")}
    state["t"] = float(objects["net"].t_)
    state["learner"] = copy.deepcopy(objects["learner"]._full_state())
    return state


def assert_same(before, after, path="state"):
    if isinstance(before, dict):
        assert before.keys() == after.keys(), path
        for key in before:
            assert_same(before[key], after[key], f"{path}.{key}")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), path
        for k, (a, b) in enumerate(zip(before, after)):
            assert_same(a, b, f"{path}[{k}]")
    elif isinstance(before, np.ndarray) or hasattr(before, "__array__"):
        before, after = np.asarray(before), np.asarray(after)
        assert np.array_equal(before, after, equal_nan=before.dtype.kind == "f"), path
    elif isinstance(before, (int, float, str, bool, type(None), np.dtype, slice)):
        assert before == after or (before != before and after != after), path
    elif hasattr(before, "__dict__"):
        assert_same(vars(before), vars(after), path)
    else:
        raise AssertionError(f"{path}: cannot compare {type(before).__name__}")


def run_again(o):
    o["net"].run(2 * ms)


def change_dt_mid_trial(o):
    defaultclock.dt = 0.5 * ms
    o["net"].run(2 * ms)


def connect_more(o):
    extra = Synapses(o["rec"], o["out"], "w : 1", on_pre="y_post += w", name="s_late")
    extra.connect()
    o["net"].add(extra)
    o["learner"].gradient(o["s_rec"].w)  # still fine before running
    o["s_late"] = extra


#: (id, misuse(objects), exception, message regex)
MISUSES = [
    ("parameter-listed-twice", lambda o: rb.RTRL([o["s_rec"].w, o["s_rec"].w], o["loss"]),
     ValueError, r"Parameter 's_rec.w' is listed twice in params"),
    ("no-parameters", lambda o: rb.RTRL([], o["loss"]),
     ValueError, r"'params' is empty: give at least one variable to learn"),
    ("not-a-variable", lambda o: rb.RTRL([o["rec"]], o["loss"]),
     TypeError, r"Expected a Brian2 group variable such as 'S.w' or 'G.v'"),
    ("subexpression-as-parameter", lambda o: rb.RTRL([o["rec"].drive], o["loss"]),
     ValueError, r"'rec.drive' is a subexpression, not a parameter"),
    ("integer-parameter", lambda o: rb.RTRL([o["rec"].k], o["loss"]),
     TypeError, r"'rec.k' has dtype int32; learnable parameters"),
    ("state-variable-as-parameter", lambda o: rb.RTRL([o["rec"].v], o["loss"]),
     ValueError, r"'rec.v' is a state variable of 'rec'"),
    ("loss-not-a-loss", lambda o: rb.RTRL([o["s_rec"].w], lambda y: 0.0),
     TypeError, r"'loss' must be a loss of rtrl_brian.losses \(MSE, CrossEntropy or a "
                r"subclass of Loss\), got function"),
    ("surrogate-not-callable", lambda o: rb.RTRL([o["s_rec"].w], o["loss"], surrogate=0.5),
     TypeError, r"'surrogate' must be callable like rtrl_brian.surrogates.Triangle, got float"),
    ("surrogate-negative-gain", lambda o: rb.surrogates.Triangle(width=1.0, gain=-1),
     ValueError, r"Triangle surrogate: 'gain' must be a positive number, got -1.0"),
    ("unknown-engine", lambda o: rb.RTRL([o["s_rec"].w], o["loss"], engine="gpu"),
     ValueError, r"Unknown engine 'gpu'; choose one of \['compiled', 'dense', 'sparse'\]"),
    ("float16-influence-matrix", lambda o: rb.RTRL([o["s_rec"].w], o["loss"], dtype=np.float16),
     ValueError, r"'dtype' must be numpy.float64 or numpy.float32"),
    ("update-every-zero", lambda o: rb.RTRL([o["s_rec"].w], o["loss"], update_every=0),
     ValueError, r"'update_every' must be a positive integer, got 0"),
    ("optimizer-by-name", lambda o: rb.RTRL([o["s_rec"].w], o["loss"], optimizer="adam"),
     TypeError, r"'optimizer' must be rtrl_brian.optim.SGD or Adam \(or None\), got str"),
    ("negative-learning-rate", lambda o: rb.optim.Adam(lr=-1e-3),
     ValueError, r"Adam: 'lr' must be a positive number, got -0.001"),
    ("momentum-one", lambda o: rb.optim.SGD(momentum=1.0),
     ValueError, r"SGD: 'momentum' must be in \[0, 1\), got 1.0"),
    ("label-out-of-range", lambda o: rb.losses.CrossEntropy(o["out"].y, labels=2),
     ValueError, r"CrossEntropy labels must lie in \[0, 2\) for 'out' with 2 neurons"),
    ("float-labels", lambda o: rb.losses.CrossEntropy(o["out"].y, labels=[0.0, 1.0]),
     TypeError, r"CrossEntropy labels must be integers, got dtype float64"),
    ("two-dimensional-mask", lambda o: rb.losses.CrossEntropy(o["out"].y, 0,
                                                              mask=np.ones((5, 2), bool)),
     ValueError, r"CrossEntropy mask must be 1-D \(steps,\), got shape \(5, 2\)"),
    ("target-with-nan", lambda o: o["loss"].set_target(np.full((10, 2), np.nan)),
     ValueError, r"MSE target for 'out.y' contains NaN or Inf"),
    ("target-wrong-width", lambda o: o["loss"].set_target(np.zeros((10, 3))),
     ValueError, r"MSE target for 'out.y' must have shape \(steps, 2\), got \(10, 3\)"),
    ("gradient-of-a-non-parameter", lambda o: o["learner"].gradient(o["rec"].v_th),
     KeyError, r"'rec.v_th' is not one of this learner's parameters \(s_rec.w, s_out.w\)"),
    ("prune-mask-wrong-shape", lambda o: o["learner"].prune(o["s_rec"].w, np.ones(3, bool)),
     ValueError, r"the mask for 's_rec.w' must have shape \(16,\), like s_rec.w\[:\]; got \(3,\)"),
    ("prune-index-out-of-range", lambda o: o["learner"].prune(o["s_rec"].w, [3, 99]),
     ValueError, r"indices into 's_rec.w' must lie in \[0, 16\), got 3..99"),
    ("prune-everything", lambda o: rb.sparsity.random_prune(o["learner"], o["s_rec"].w, 1.0),
     ValueError, r"'sparsity' must lie in \[0, 1\), got 1.0"),
    ("pruning-schedule-backwards", lambda o: rb.sparsity.MagnitudePruning(o["s_rec"].w, 0.5,
                                                                          start=100, end=10),
     ValueError, r"MagnitudePruning: need 0 <= start < end, got 100, 10"),
    ("rewire-nothing", lambda o: rb.sparsity.Rewiring(o["s_rec"].w, fraction=0.0),
     ValueError, r"Rewiring: 'fraction' must lie in \(0, 1\), got 0.0"),
    ("trials-of-zero-steps", lambda o: o["learner"].trials(0),
     ValueError, r"learner: trial 'steps' must be a positive integer, got 0"),
    ("dt-changed-mid-trial", change_dt_mid_trial,
     ValueError, r"learner: dt changed from 1 ms to 0.5 ms in the middle of a trial \(after 3 "
                 r"steps\)"),
    ("target-shorter-than-the-trial", lambda o: (o["loss"].set_target(np.zeros((3, 2))),
                                                 run_again(o)),
     IndexError, r"MSE on 'out.y': target has 3 steps but step 3 of the trial was reached"),
]


@pytest.mark.codegen_independent
@pytest.mark.parametrize("misuse, error, message", [case[1:] for case in MISUSES],
                         ids=[case[0] for case in MISUSES])
def test_misuse_is_refused_and_changes_nothing(misuse, error, message):
    objects = build()
    before = snapshot(objects)
    with pytest.raises(Exception) as raised:
        misuse(objects)
    found = raised.value
    if isinstance(found, BrianObjectException):  # Brian2 wraps errors raised in before_run
        found = found.__cause__
    assert isinstance(found, error) and re.search(message, str(found)), repr(found)
    after = snapshot(objects)
    if error is IndexError:
        # found while Brian2 ran the step: the network moved on, but the learner stopped
        # before using the step (parameters, influence matrix, history untouched)
        for name in ("s_rec", "s_out"):
            assert np.array_equal(before[name]["w"], after[name]["w"])
        assert_same(before["learner"], after["learner"])
    else:
        assert_same(before, after)


def test_the_catalogue_is_complete():
    assert len(MISUSES) >= 20 and len({case[0] for case in MISUSES}) == len(MISUSES)


@pytest.mark.codegen_independent
def test_synapses_added_to_a_learned_group_are_learned_through():
    """Not a misuse: a pathway added after the learner is compiled in at the next run."""
    objects = build()
    connect_more(objects)
    check = rb.BPTT([objects["s_rec"].w, objects["s_out"].w], objects["loss"], name="reference")
    objects["learner"].optimizer = None
    objects["learner"].reset_state()
    objects["learner"].zero_grad()
    objects["rec"].v = 1.5  # everyone spikes at once: recurrent weights matter
    objects["net"].add(check)
    objects["net"].run(5 * ms)
    for var in (objects["s_rec"].w, objects["s_out"].w):
        reference = check.gradient(var)
        assert np.abs(reference).max() > 0
        assert np.max(np.abs(objects["learner"].gradient(var) - reference)) <= \
            1e-12 * np.abs(reference).max()


@pytest.mark.codegen_independent
def test_a_variable_whose_synapses_are_gone_is_refused_by_name():
    """Brian2's variables refer to their group weakly: once the synapses are collected,
    their `w` names a group that no longer exists."""
    group = NeuronGroup(3, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0",
                        method="exact")
    synapses = Synapses(group, group, "w : 1", on_pre="v += w")
    synapses.connect()
    weights = synapses.w
    del synapses
    gc.collect()
    with pytest.raises(ValueError, match=r"The group that owned the variable 'w' no longer "
                                         r"exists: keep a reference"):
        rb.RTRL([weights], rb.losses.MSE(group.v, np.zeros((5, 3))))
