"""
Losses: masks, sums of losses and the rate regulariser.

References that do not share the library's code: the hand-written BPTT of
tests/test_exact_bptt.py (a mask is its derivative times the mask), the sum of
separately learned gradients (a sum of losses has the sum of their gradients),
the regulariser's value from a StateMonitor, and BPTT of the same run.
"""

import numpy as np
import pytest
from brian2 import (DimensionMismatchError, Hz, Network, NeuronGroup, SpikeGeneratorGroup,
                    StateMonitor, Synapses, ms, second)
from brian2.units.fundamentalunits import DIMENSIONLESS

import rtrl_brian as rb
from rtrl_brian.losses import (MSE, ActivityRegularizer, CrossEntropy, ExpressionLoss, LossSum,
                               RateRegularizer)
from helpers import input_raster, relative_error
from test_exact_bptt import STEPS
from test_plugins import assert_equals_hand_bptt
from test_standalone import binary_and_compiled, build_dir  # noqa: F401 (fixture)

MASK = np.arange(STEPS) % 3 == 2


@pytest.mark.codegen_independent
def test_a_masked_mse_equals_hand_written_bptt():
    learners = assert_equals_hand_bptt(
        rb.surrogates.Triangle(0.6, 0.4), lambda x: 0.4 * np.maximum(0, 1 - np.abs(x) / 0.6),
        ["sparse", "dense"], loss=lambda y, target: MSE(y, target, mask=MASK),
        dloss=lambda y, target, step: (y - target) * MASK[step])
    losses = np.asarray(learners["sparse"].history["loss"])
    assert np.all(losses[~MASK] == 0) and np.all(losses[MASK] > 0)


@pytest.mark.codegen_independent
def test_an_expression_loss_equals_hand_written_bptt_with_its_derivative():
    """'log(cosh(y - target))' differentiated by sympy; the reference writes tanh."""
    assert_equals_hand_bptt(
        rb.surrogates.Triangle(0.6, 0.4), lambda x: 0.4 * np.maximum(0, 1 - np.abs(x) / 0.6),
        ["sparse", "dense"],
        loss=lambda y, target: ExpressionLoss(y, "log(cosh(y - target))", target, mask=MASK),
        dloss=lambda y, target, step: np.tanh(y - target) * MASK[step])


@pytest.mark.codegen_independent
def test_an_expression_of_the_squared_error_is_the_mse():
    objects, params, rec, out, target = rate_network()
    mse = rb.RTRL(params, MSE(out.y, target, mask=MASK), name="mse")
    written = rb.RTRL(params, ExpressionLoss(out.y, "0.5*(y - target)**2", target, mask=MASK),
                      name="written")
    Network(*objects, mse, written).run(STEPS * ms)
    np.testing.assert_allclose(written.history["loss"], mse.history["loss"], rtol=1e-12)
    for var in params:
        assert relative_error(written.gradient(var), mse.gradient(var)) < 1e-12


@pytest.mark.codegen_independent
@pytest.mark.parametrize("variable, expression, error, message", [
    ("v", "(v - target) / mV + 1", None, None),
    ("v", "v - target + 1", DimensionMismatchError, r"inconsistent units"),
    ("y", "int(y - target)**2", ValueError, r"piecewise-constant part \(int_\(-target \+ y\)\)"),
    ("y", "y * w", None, None),  # another per-neuron variable of the group: read too
    ("y", "y * i", ValueError, r"'y \* i' reads i; it may use the group's per-neuron "
                               r"variables, 'target', units"),
    ("y", "y * tau_unknown", KeyError, r"tau_unknown"),
])
def test_an_expression_loss_checks_its_expression(variable, expression, error, message):
    group = NeuronGroup(2, """dv/dt = -v / (10*ms) : volt
                              dy/dt = -y / (10*ms) : 1
                              w : 1""", method="exact")
    var = getattr(group, variable)
    if error is None:
        assert ExpressionLoss(var, expression, np.zeros((3, 2))).dimensions is DIMENSIONLESS
        return
    with pytest.raises(error, match=message):
        ExpressionLoss(var, expression, np.zeros((3, 2)))


def rate_network(seed=4, steps=STEPS, readout=True):
    """Inputs -> LIF units with a rate trace ``r`` -> leaky readout (``readout``: False,
    none: ``out`` is None)."""
    rng = np.random.default_rng(seed)
    _, neuron, step = input_raster(rng, 6, steps, 0.2)
    inputs = SpikeGeneratorGroup(6, neuron, step * ms, name="inputs")
    rec = NeuronGroup(10, """dv/dt = -v / (20*ms) : 1
                             dr/dt = -r / (50*ms) : Hz""",
                      threshold="v > 1", reset="v -= 1\nr += 1/(50*ms)", method="exact",
                      name="rec")
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out") \
        if readout else None
    synapses = []
    for source, target, on_pre, density, weights in [
            (inputs, rec, "v_post += w", 0.7, lambda k: rng.uniform(0.2, 0.9, k)),
            (rec, rec, "v_post += w", 0.5, lambda k: rng.normal(0, 0.4, k)),
            (rec, out, "y_post += w", 1.0, lambda k: rng.normal(0, 0.5, k))][:3 if readout else 2]:
        pre, post = np.nonzero(rng.random((len(source), len(target))) < density)
        keep = (pre != post) | (source is not target)
        s = Synapses(source, target, "w : 1", on_pre=on_pre, name=f"{source.name}_{target.name}")
        s.connect(i=pre[keep], j=post[keep])  # from arrays: the binary takes it
        s.w = weights(int(np.count_nonzero(keep)))
        synapses.append(s)
    return ([inputs, rec] + [out] * readout + synapses, [s.w for s in synapses], rec, out,
            rng.normal(0.0, 0.5, (steps, 2)))


class CoupledLoss(rb.losses.Loss):
    """``sum_k 0.5 (v_k - target_k)**2 + c v_k r_k``, differentiated by hand: a loss of two
    variables of one group."""

    def __init__(self, v, r, target, c):
        super().__init__(v)
        self.target, self.c = target, c

    @property
    def blocks(self):
        return ((self.group.name, "v"), (self.group.name, "r"))

    def evaluate(self, values, step, t):
        v, r = values
        error = v - self.target[step]
        return float(np.sum(0.5 * error ** 2 + self.c * v * r)), [error + self.c * r, self.c * v]


@pytest.mark.codegen_independent
def test_an_expression_of_two_variables_equals_the_hand_written_loss_and_bptt():
    """'0.5*(v - target)**2 + 0.001*v*r*second' reads v and r: sympy's derivative by
    each, through each one's rows, equals the hand-differentiated loss and BPTT."""
    objects, params, rec, out, _ = rate_network()
    target = np.random.default_rng(7).uniform(0.0, 0.8, (STEPS, 10))
    expression = "0.5*(v - target)**2 + 0.001*v*r*second"
    written = lambda: ExpressionLoss(rec.v, expression, target)  # noqa: E731
    assert written().blocks == (("rec", "v"), ("rec", "r"))
    learners = {"sparse": rb.RTRL(params[:2], written(), name="sparse"),
                "dense": rb.RTRL(params[:2], written(), engine="dense", name="dense"),
                "hand": rb.RTRL(params[:2], CoupledLoss(rec.v, rec.r, target, 0.001),
                                name="hand")}
    bptt = rb.BPTT(params[:2], written(), name="bptt")
    Network(*objects, bptt, *learners.values()).run(STEPS * ms)
    np.testing.assert_allclose(learners["sparse"].history["loss"],
                               learners["hand"].history["loss"], rtol=1e-12)
    for var in params[:2]:
        reference = learners["hand"].gradient(var)
        assert np.abs(reference).max() > 0
        for name in ("sparse", "dense"):
            assert relative_error(learners[name].gradient(var), reference) < 1e-12, name
        assert relative_error(bptt.gradient(var), reference) < 1e-9
    with pytest.raises(TypeError, match=r"reads v, r: call evaluate\(\)"):
        written()(np.zeros(10), 0, 0.0)


@pytest.mark.codegen_independent
def test_an_expression_of_two_variables_in_separate_terms_is_a_sum_of_losses():
    objects, params, rec, out, _ = rate_network()
    target = np.random.default_rng(8).uniform(0.0, 0.8, (STEPS, 10))
    joined = rb.RTRL(params[:2], ExpressionLoss(
        rec.v, "0.5*(v - target)**2 + 0.05*(r*ms)**2", target), name="joined")
    summed = rb.RTRL(params[:2], ExpressionLoss(rec.v, "0.5*(v - target)**2", target) +
                     ExpressionLoss(rec.r, "0.05*(r*ms)**2", np.zeros((STEPS, 10)) * Hz),
                     name="summed")
    Network(*objects, joined, summed).run(STEPS * ms)
    for var in params[:2]:
        assert relative_error(joined.gradient(var), summed.gradient(var)) < 1e-12


@pytest.mark.codegen_independent
def test_a_sum_of_losses_has_the_sum_of_their_gradients():
    objects, params, rec, out, target = rate_network()
    weight, rate = 2e-4 * second ** 2, 15 * Hz
    task = lambda: MSE(out.y, target, mask=MASK)  # noqa: E731
    regulariser = lambda: RateRegularizer(rec.r, rate, weight=weight)  # noqa: E731
    total = task() + regulariser()
    assert isinstance(total, LossSum) and len(total.parts) == 2
    learners = {"sum": rb.RTRL(params, total, name="sum"),
                "dense": rb.RTRL(params, task() + regulariser(), engine="dense", name="dense"),
                "task": rb.RTRL(params, task(), name="task"),
                "regulariser": rb.RTRL(params, regulariser(), name="regulariser")}
    bptt = rb.BPTT(params, task() + regulariser(), name="bptt")
    monitor = StateMonitor(rec, "r", record=True)
    Network(*objects, monitor, bptt, *learners.values()).run(STEPS * ms)
    for var in params:
        parts = learners["task"].gradient(var) + learners["regulariser"].gradient(var)
        assert relative_error(learners["sum"].gradient(var), parts) < 1e-12
        assert relative_error(learners["dense"].gradient(var), parts) < 1e-12
        assert relative_error(bptt.gradient(var), parts) < 1e-9
    for var in params[:2]:  # the readout's weights do not change the rates
        assert np.abs(learners["regulariser"].gradient(var)).max() > 0
    # the regulariser's value, from Brian2's own record of r (at the start of the next step)
    r = np.asarray(monitor.r_)[:, 1:].T
    expected = 0.5 * float(weight) * np.sum((r - float(rate)) ** 2, axis=1)
    np.testing.assert_allclose(np.asarray(learners["regulariser"].history["loss"])[:-1],
                               expected, rtol=1e-12)
    np.testing.assert_allclose(learners["sum"].history["loss"],
                               np.add(learners["task"].history["loss"],
                                      learners["regulariser"].history["loss"]), rtol=1e-12)


@pytest.mark.codegen_independent
def test_what_cannot_be_added_is_refused_by_name():
    objects, params, rec, out, target = rate_network()
    with pytest.raises(DimensionMismatchError, match=r"Cannot add RateRegularizer\(rec.r\) to "
                                                     r"MSE\(out.y\): their dimensions differ"):
        MSE(out.y, target) + RateRegularizer(rec.r, 10 * Hz)
    with pytest.raises(DimensionMismatchError, match=r"RateRegularizer on 'rec.r': the target "
                                                     r"must have the variable's units"):
        RateRegularizer(rec.r, 0.5)
    with pytest.raises(ValueError, match=r"RateRegularizer on 'rec.r': 'weight' must be "
                                         r"finite and positive, got -1.0"):
        RateRegularizer(rec.r, 10 * Hz, weight=-1.0)
    with pytest.raises(ValueError, match=r"RateRegularizer on 'rec.r': 'target' must be "
                                         r"finite, got inf"):
        RateRegularizer(rec.r, np.inf * Hz)
    with pytest.raises(ValueError, match=r"ActivityRegularizer on 'rec.r': 'weight' must be "
                                         r"finite and positive, got nan"):
        ActivityRegularizer(rec.r, np.nan)
    with pytest.raises(DimensionMismatchError, match=r"Cannot add ActivityRegularizer\(rec.r, "
                                                     r"weight=0.1\) to MSE\(out.y\)"):
        MSE(out.y, target) + ActivityRegularizer(rec.r, 0.1)
    with pytest.raises(ValueError, match=r"mask must be 1-D"):
        MSE(out.y, target, mask=np.ones((2, 2)))
    slower = NeuronGroup(len(out), "v : 1", dt=0.5 * ms, name="slower")
    with pytest.raises(ValueError, match=r"Cannot add MSE\(slower.v\) to MSE\(out.y\): their "
                                         r"groups run on clocks of different time steps"):
        MSE(out.y, target) + MSE(slower.v, target)
    with pytest.raises(AttributeError, match="reads several variables"):
        (MSE(out.y, target) + CrossEntropy(out.y, 0)).block


@pytest.mark.standalone
@pytest.mark.long
@pytest.mark.parametrize("task", [
    lambda y, target, mask: MSE(y, target, mask=mask),
    lambda y, target, mask: ExpressionLoss(y, "log(cosh(y - target))", target, mask=mask)],
    ids=["mse", "expression"])
def test_a_sum_of_losses_in_the_binary_equals_the_compiled_engine(build_dir, task):  # noqa: F811
    def network():
        objects, params, rec, out, target = rate_network(steps=40)
        loss = task(out.y, target, np.arange(40) % 2 == 0) + \
            RateRegularizer(rec.r, 15 * Hz, weight=2e-4 * second ** 2) + \
            ActivityRegularizer(rec.r, 1e-3 * second)
        return objects, params, loss

    options = dict(optimizer=rb.optim.Adam(lr=0.02), update_every=5)
    binary, compiled = binary_and_compiled(build_dir, network, options, 40 * ms)
    for key in ("loss", "multiply_adds", "multiply_adds_dense"):
        assert relative_error(binary["history"][key], compiled["history"][key]) < 1e-12, key


@pytest.mark.standalone
@pytest.mark.long
def test_an_expression_of_two_variables_in_the_binary_equals_the_compiled_engine(
        build_dir):  # noqa: F811
    def network():
        objects, params, rec, out, _ = rate_network(steps=40)
        target = np.random.default_rng(7).uniform(0.0, 0.8, (40, 10))
        loss = ExpressionLoss(rec.v, "0.5*(v - target)**2 + 0.001*v*r*second", target,
                              mask=np.arange(40) % 2 == 0)
        return objects, params[:2], loss

    binary, compiled = binary_and_compiled(build_dir, network,
                                           dict(optimizer=rb.optim.Adam(lr=0.02)), 40 * ms)
    assert relative_error(binary["history"]["loss"], compiled["history"]["loss"]) < 1e-12


def counting_network(seed=5, steps=STEPS):
    """Inputs -> recurrent LIF units -> two spiking LIF readouts that count their spikes
    (``count += 1`` in the reset) and keep a rate trace ``r`` (unitless, ``r += 0.1``)."""
    objects, params, rec, _, _ = rate_network(seed=seed, steps=steps, readout=False)
    rng = np.random.default_rng(seed)
    readout = NeuronGroup(2, """dv/dt = -v / (10*ms) : 1
                                dr/dt = -r / (30*ms) : 1
                                count : 1""",
                          threshold="v > 0.5", reset="v -= 0.5\ncount += 1\nr += 0.1",
                          method="exact", name="readout")
    s_out = Synapses(rec, readout, "w : 1", on_pre="v_post += w", name="rec_readout")
    s_out.connect()
    s_out.w = rng.uniform(0.0, 0.5, len(s_out))
    return objects + [readout, s_out], params + [s_out.w], readout


@pytest.mark.codegen_independent
@pytest.mark.parametrize("variable", ["count", "r"])
def test_spike_count_and_rate_cross_entropy_are_exact(variable):
    """A spiking readout classifies by its spike count (or rate trace) at the trial's end:
    CrossEntropy on that variable, on the last step. The count grows through the spike in
    the reset, differentiated through the surrogate: sparse = dense = BPTT of the run."""
    objects, params, readout = counting_network()
    at_end = np.arange(STEPS) == STEPS - 1
    loss = lambda: CrossEntropy(getattr(readout, variable), 1, mask=at_end)  # noqa: E731
    surrogate = rb.surrogates.FastSigmoid(width=0.5, gain=0.3)  # couples every unit
    learners = {engine: rb.RTRL(params, loss(), engine=engine, surrogate=surrogate,
                                name=engine) for engine in ("sparse", "dense")}
    bptt = rb.BPTT(params, loss(), surrogate=surrogate, name="bptt")
    Network(*objects, bptt, *learners.values()).run(STEPS * ms)
    assert readout.count[:].sum() > 0  # the readouts spiked
    for var in params:
        reference = learners["dense"].gradient(var)
        assert np.abs(reference).max() > 0
        assert relative_error(learners["sparse"].gradient(var), reference) < 1e-12
        assert relative_error(bptt.gradient(var), reference) < 1e-9
