"""
Property-based exactness: random networks from a grammar of the constructs the
compiler accepts; RTRL equals BPTT and the sparse engine equals the dense one on
each. Constructs outside the grammar are refused with a message naming the object.

Profiles: ``default`` (a few examples, fast), ``ci`` (more; `.ci/run` uses it) and
``explore`` (many fresh random draws, for local bug hunts), chosen with the
``HYPOTHESIS_PROFILE`` environment variable.
"""

import os
import re
from unittest import mock

import numpy as np
import pytest
from brian2 import (Hz, Network, NeuronGroup, PoissonGroup, PoissonInput, SpikeGeneratorGroup,
                    Synapses, TimedArray, linked_var, ms)
from hypothesis import HealthCheck, given, note, settings, strategies as st

import rtrl_brian as rb
from rtrl_brian import UnsupportedConstructError
from rtrl_brian.kernels import CythonKernels
from rtrl_brian.targets import CythonTarget
from helpers import relative_error

settings.register_profile("default", max_examples=8, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])  # fresh draws, local
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

STEPS = 30


@st.composite
def groups(draw, index):
    """One recurrent group: its equations, threshold, reset and options."""
    has_a, has_i = draw(st.booleans()), draw(st.booleans())
    nonlinear = draw(st.sampled_from(
        [None, "0.3*tanh(v)", "0.2*v**2", "0.1*sin(3*v)"]
        + (["0.2*exp(-a)", "0.1*a*v"] if has_a else [])))
    drive, bias, learn_tau = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    noise = draw(st.booleans())  # white noise: pathwise, the realised samples held fixed
    linear = nonlinear is None and not drive
    method = "euler" if noise else draw(st.sampled_from(
        ["exact", "euler", "rk2"] if linear else ["euler", "rk2", "rk4"]))
    resets = ["v -= v_th", "v = 0", "v = 0.1*v"]
    if has_a:
        resets += ["v -= v_th\na += 0.5", "a += 0.3\nv = 0"]
    return dict(
        name=f"g{index}", n=draw(st.integers(2, 6)), has_a=has_a, has_i=has_i,
        nonlinear=nonlinear, drive=drive, bias=bias, learn_tau=learn_tau, method=method,
        noise=noise, regularly_on_subgroup=draw(st.booleans()),
        threshold=draw(st.sampled_from(["v > v_th", "v > v_th or v > 1.2"] + (
            ["v > v_th + 0.2*a", "v > v_th and a < 0.5"] if has_a else []))),
        reset=draw(st.sampled_from(resets)), refractory=draw(st.booleans()),
        regularly=draw(st.sampled_from([None, "v += 0.01", "v += 0.02*randn()", "v += 0.01*i/N"]
                                       + (["a *= 0.99"] if has_a else []))),
        learn_v_th=draw(st.booleans()),
        # electrical coupling into the group: a (summed) variable from a drawn group
        gap=draw(st.booleans()),
        # a custom event 'up' (Brian2's events=): none, its own code, or a pathway
        # sending it to the readout
        event=draw(st.sampled_from([None, "run_on_event", "pathway"])))


@st.composite
def networks(draw):
    specs = draw(st.lists(groups(0), min_size=1, max_size=2))
    for index, spec in enumerate(specs):
        spec["name"] = f"g{index}"
    pathways = []
    for target in specs:
        pathways.append(("inputs", target["name"], draw(st.sampled_from(
            ["v_post += w", "v += w"] + (["I_post += w", "I += w"] if target["has_i"] else [])))))
    for source in specs:
        for target in specs:
            if draw(st.booleans()) or source is target:
                choices = ["v_post += w"]
                # refused: within a group, a read of what the pathway writes (order), and
                # between refractory groups, a read of the flagged v_pre (Brian2 then
                # applies the presynaptic flag to the write)
                if source is not target and not (source["refractory"] and target["refractory"]):
                    choices.append("v_post += 0.3 * w * v_pre")
                if source["has_a"]:
                    choices.append("v_post += 0.5 * w * a_pre")  # graded events
                if target["has_a"]:
                    choices.append("v_post += w * (1 - 0.1*a_post)")
                if target["has_i"]:
                    choices.append("I_post += w")
                pathways.append((source["name"], target["name"], draw(st.sampled_from(choices))))
    # synapses from or onto a subgroup: (pathway index, 'source' or 'target') or None
    subgroup = draw(st.sampled_from([None] + [(k, side) for k in range(len(pathways))
                                              for side in ("source", "target")]))
    gaps = [(draw(st.sampled_from([source["name"] for source in specs])), target["name"])
            for target in specs if target["gap"]]
    return dict(groups=specs, pathways=pathways, gaps=gaps, linked=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 16)),
                poisson=draw(st.booleans()), cross_entropy=draw(st.booleans()),
                detach=draw(st.booleans()), width=draw(st.sampled_from([0.3, 0.6, 1.0])),
                subgroup=subgroup, poisson_input=draw(st.booleans()),
                # synaptic delays: none, the same for all synapses (steps), or per synapse
                delays=[draw(st.sampled_from([None, 1, 2, "heterogeneous"])) for _ in pathways],
                # per-synapse state: none, short-term plasticity (event-driven) or a
                # clock-driven trace reading the postsynaptic voltage
                synaptic_state=[draw(st.sampled_from(sorted(SYNAPTIC_STATE)))
                                for _ in pathways])


#: Per-synapse state a pathway may have: extra equations, what the event's weight
#: becomes (never more than about w: the grammar's networks must not diverge),
#: statements after the pathway's own, initial values, an on_post pathway
#: (between learned groups, it also writes back ``v_pre`` where that is not
#: ``(unless refractory)``).
SYNAPTIC_STATE = {
    "none": ("", "w", "", {}, None),
    "short-term plasticity": ("""du/dt = (0.3 - u) / (40*ms) : 1 (event-driven)
                                 dx/dt = (1 - x) / (20*ms) : 1 (event-driven)""",
                              "(w*u*x)", "x -= u*x\nu += 0.3*(1 - u)", {"u": 0.3, "x": 1.0},
                              None),
    "clock-driven": ("dc/dt = (0.2*tanh(v_post) - c) / (5*ms) : 1 (clock-driven)",
                     "(w/(1 + c))", "c += 0.2", {}, None),
    "on_post trace": ("dapost/dt = -apost / (20*ms) : 1 (event-driven)", "(w/(1 + apost))",
                      "", {}, "apost += 0.5"),
}


def without_random_numbers(network):
    """The network without what the generated step refuses: noise, randn(), PoissonInput,
    synaptic delays, per-synapse state, (summed) variables, custom events, linked
    variables, thresholds joining comparisons (their first comparison stays)."""
    for spec in network["groups"]:
        spec["noise"] = False
        spec["event"] = None
        spec["threshold"] = re.split(r" (?:and|or) ", spec["threshold"])[0]
        if spec["regularly"] and "randn" in spec["regularly"]:
            spec["regularly"] = None
    network["poisson_input"] = False
    network["delays"] = []
    network["synaptic_state"] = []
    network["gaps"] = []
    network["linked"] = False
    return network


def equations(spec):
    rhs = "-v" + " + I" * spec["has_i"] + (f" + {spec['nonlinear']}" if spec["nonlinear"] else "")
    rhs += " + drive(t)" * spec["drive"] + " + b" * spec["bias"] + " + Igap" * spec.get("gap", 0)
    tau = "tau" if spec["learn_tau"] else "(12*ms)"
    noise = " + 0.05*xi/sqrt(ms)" if spec.get("noise") else ""
    lines = [f"dv/dt = ({rhs}) / {tau}{noise} : 1" + " (unless refractory)" * spec["refractory"]]
    if spec["has_a"]:
        lines.append("da/dt = -a / (30*ms) : 1")
    if spec["has_i"]:
        lines.append("dI/dt = -I / (5*ms) : 1")
    lines.append("v_th : 1 (constant)")
    if spec.get("gap"):
        lines.append("Igap : 1")
    if spec["bias"]:
        lines.append("b : 1 (constant)")
    if spec["learn_tau"]:
        lines.append("tau : second (constant)")
    return "\n".join(lines)


def build(network):
    """
    Brian2 objects, parameters and loss for a drawn network.

    ``network['arrays']``: synapses from connectivity drawn with numpy (as
    cpp_standalone needs) instead of Brian2's ``connect(p=...)``.
    """
    rng = np.random.default_rng(network["seed"])
    drive = TimedArray(rng.uniform(0.0, 0.4, STEPS), dt=1 * ms)
    if network["poisson"]:
        inputs = PoissonGroup(5, rates=200 * Hz, name="inputs")
    else:
        raster = rng.random((STEPS, 5)) < 0.2
        step, neuron = np.nonzero(raster)
        inputs = SpikeGeneratorGroup(5, neuron, step * ms, name="inputs")
    objects, params, groups_by_name = [inputs], [], {"inputs": inputs}
    specs = {spec["name"]: spec for spec in network["groups"]}
    for spec in network["groups"]:
        events = {"up": "v > 0.5*v_th and v < v_th"} if spec.get("event") else {}
        group = NeuronGroup(spec["n"], equations(spec), threshold=spec["threshold"],
                            reset=spec["reset"], method=spec["method"],
                            refractory=2 * ms if spec["refractory"] else False,
                            events=events, namespace={"drive": drive}, name=spec["name"])
        if spec.get("event") == "run_on_event":
            group.run_on_event("up", "a += 0.1" if spec["has_a"] else "v += 0.02")
        group.v = rng.uniform(0.0, 1.0, spec["n"])
        group.v_th = rng.uniform(0.5, 1.0, spec["n"])
        if spec["bias"]:
            group.b = rng.uniform(0.0, 0.5, spec["n"])
            params.append(group.b)
        if spec["learn_tau"]:
            group.tau = rng.uniform(8, 20, spec["n"]) * ms
            params.append(group.tau)
        if spec["learn_v_th"]:
            params.append(group.v_th)
        if spec["regularly"]:
            owner = group[1:] if spec.get("regularly_on_subgroup") else group
            owner.run_regularly(spec["regularly"], when="start")
        objects.append(group)
        groups_by_name[spec["name"]] = group
    if network.get("linked"):  # the readout also reads the first group's v
        out = NeuronGroup(2, "dy/dt = (-y + 0.2*vl) / (10*ms) : 1\nvl : 1 (linked)",
                          method="euler", name="out")
        out.vl = linked_var(objects[1], "v", index=[0, 1])
    else:
        out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    objects.append(out)
    pathways = network["pathways"] + [(spec["name"], "out", "y_post += w")
                                      for spec in network["groups"]]
    if network.get("poisson_input"):
        objects.append(PoissonInput(objects[1], "v", 4, 100 * Hz, weight=0.05))
    for k, (source, target, on_pre) in enumerate(pathways):
        ends = [groups_by_name[source], groups_by_name.get(target, out)]
        if network.get("subgroup") and network["subgroup"][0] == k:
            side = 0 if network["subgroup"][1] == "source" else 1
            if isinstance(ends[side], NeuronGroup) and len(ends[side]) > 1:
                ends[side] = ends[side][1:]
        kinds = network.get("synaptic_state") or []
        extra, weight, after, initial, on_post = SYNAPTIC_STATE[kinds[k] if k < len(kinds)
                                                                else "none"]
        if on_post and source in specs:
            on_post += "\nv_pre += 0.05*w"
        on_pre = re.sub(r"\bw\b", weight, on_pre) + (f"\n{after}" if after else "")
        synapses = Synapses(*ends, f"w : 1\n{extra}", on_pre=on_pre, on_post=on_post,
                            name=f"s{k}_{source}_{target}", method="euler")
        if network.get("arrays"):  # connectivity drawn here: known before a standalone build
            pre, post = np.nonzero(rng.random((len(synapses.source), len(synapses.target))) < 0.7)
            keep = pre != post if source == target else np.ones(len(pre), dtype=bool)
            if keep.any():  # Brian2 refuses empty arrays
                synapses.connect(i=pre[keep], j=post[keep])
        else:
            synapses.connect(condition="i != j" if source == target else None, p=0.7)
        synapses.w = rng.normal(0.2, 0.3, len(synapses))
        for name, value in initial.items():
            setattr(synapses, name, value)
        delays = network.get("delays") or []  # drawn for the recurrent pathways
        delay = delays[k] if k < len(delays) else None
        if delay == "heterogeneous":
            synapses.delay = rng.integers(0, 4, len(synapses)) * ms
        elif delay is not None:
            synapses.delay = delay * ms
        objects.append(synapses)
        params.insert(k, synapses.w)
    for source, target in network.get("gaps", []):
        gap = Synapses(groups_by_name[source], groups_by_name[target],
                       "w : 1\nIgap_post = w * (v_pre - v_post) : 1 (summed)",
                       name=f"gap_{source}_{target}")
        gap.connect(condition="i != j" if source == target else None, p=0.7)
        gap.w = rng.uniform(0.0, 0.3, len(gap))
        objects.append(gap)
        params.append(gap.w)
    for spec in network["groups"]:
        if spec.get("event") == "pathway":
            sender = Synapses(groups_by_name[spec["name"]], out, "w : 1", on_pre="y_post += w",
                              on_event={"pre": "up"}, name=f"up_{spec['name']}")
            sender.connect()
            sender.w = rng.normal(0.0, 0.2, len(sender))
            objects.append(sender)
            params.append(sender.w)
    if network["cross_entropy"]:
        mask = rng.random(STEPS) < 0.5
        mask[-1] = True
        loss = rb.losses.CrossEntropy(out.y, labels=rng.integers(0, 2, STEPS), mask=mask)
    else:
        loss = rb.losses.MSE(out.y, rng.normal(0.0, 0.5, (STEPS, 2)))
    return objects, params, loss


@pytest.mark.codegen_independent
@given(network=networks())
def test_random_networks_rtrl_equals_bptt_and_sparse_equals_dense(network):
    check_exactness(network)


@pytest.mark.cython
@given(network=networks())
def test_random_networks_with_compiled_kernels(network):
    """The sparse engine's Cython kernels (Brian2 itself stays on numpy: no compile per draw)."""
    with mock.patch("rtrl_brian.engine.sparse.runtime_target", lambda target: CythonTarget()):
        sparse = check_exactness(network)
    assert isinstance(sparse.engine.kernels, CythonKernels)


@pytest.mark.cython
@settings(max_examples=60 if os.environ.get("HYPOTHESIS_PROFILE") == "explore"
          else 2)  # a compile per draw; tests/test_standalone.py runs the same C on another
@given(network=networks())
def test_random_networks_with_the_compiled_engine(network):
    """The whole step as generated C (Brian2 itself stays on numpy: one compile per draw)."""
    without_random_numbers(network)
    note(repr(network))
    objects, params, loss = build(network)
    options = dict(surrogate=rb.surrogates.Triangle(width=network["width"], gain=0.4),
                   detach_reset=network["detach"], namespace={})
    compiled = rb.RTRL(params, loss, engine="compiled", name="compiled", **options)
    dense = rb.RTRL(params, loss, engine="dense", name="dense", **options)
    Network(*objects, compiled, dense).run(STEPS * ms)
    for var in params:
        label = f"{var.group_name}.{var.name}"
        assert relative_error(compiled.gradient(var), dense.gradient(var)) < 1e-12, label


def check_exactness(network):
    """Sparse RTRL equals BPTT (1e-9) and the dense engine (1e-12); returns the sparse learner."""
    note(repr(network))
    objects, params, loss = build(network)
    surrogate = rb.surrogates.Triangle(width=network["width"], gain=0.4)
    options = dict(surrogate=surrogate, detach_reset=network["detach"], namespace={})
    sparse = rb.RTRL(params, loss, engine="sparse", name="sparse", **options)
    dense = rb.RTRL(params, loss, engine="dense", name="dense", **options)
    bptt = rb.BPTT(params, loss, name="bptt", **options)
    Network(*objects, sparse, dense, bptt).run(STEPS * ms)
    for var in params:
        reference = bptt.gradient(var)
        label = f"{var.group_name}.{var.name}"
        assert relative_error(sparse.gradient(var), reference) < 1e-9, label
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, label
    return sparse


def add_stdp(objects):
    group = objects[1]
    extra = Synapses(group, group, "w : 1", on_pre="v_post += w", on_post="w += 0.01",
                     name="extra")
    extra.connect()
    objects.append(extra)
    return extra.w


#: Constructs outside the grammar: (change to the drawn spec of the first group or None,
#: a function adding to the built objects and returning a variable to learn too, or None,
#: exception, message after the object's name).
REFUSED = {
    "random-threshold": (lambda spec: spec.update(threshold="v > v_th + 0.1*rand()"), None,
                         UnsupportedConstructError,
                         r"NeuronGroup 'g0'.*stochastic function 'rand\(\)'"),
    "equality-threshold": (lambda spec: spec.update(threshold="v > v_th and v == 5"), None,
                           UnsupportedConstructError,
                           r"NeuronGroup 'g0'.*a threshold condition 'Eq\(v, 5\)'"),
    "stdp-on-a-learned-weight": (None, add_stdp, UnsupportedConstructError,
                                 r"Synapses 'extra'.*plasticity of a learned parameter"),
}


@pytest.mark.codegen_independent
@given(network=networks(), construct=st.sampled_from(sorted(REFUSED)))
def test_constructs_outside_the_grammar_are_refused(network, construct):
    change_spec, change_objects, error, message = REFUSED[construct]
    spec = network["groups"][0]
    if change_spec:
        change_spec(spec)
        spec["method"] = "euler"
    objects, params, loss = build(network)
    if change_objects:
        params = params + [change_objects(objects)]
    with pytest.raises(error, match=message):
        rb.RTRL(params, loss, namespace={})
