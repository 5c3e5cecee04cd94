"""NaN and infinity stop learning with a clear error and finite parameters; gradient clipping."""

import brian2
import numpy as np
import pytest
from brian2 import Network, NeuronGroup, PoissonGroup, Synapses, Hz, ms

import rtrl_brian as rb


def network(seed=0):
    brian2.seed(seed)  # the Poisson spikes too: the overflow test needs enough of them
    rng = np.random.default_rng(seed)
    inputs = PoissonGroup(6, rates=300 * Hz)
    rec = NeuronGroup(5, "dv/dt = -v / (10*ms) : 1", threshold="v > 0.5", reset="v -= 0.5",
                      method="exact", name="rec")
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact", name="out")
    synapses = []
    for source, target, on_pre, name in ((inputs, rec, "v_post += w", "s_in"),
                                         (rec, out, "y_post += w", "s_out")):
        s = Synapses(source, target, "w : 1", on_pre=on_pre, name=name)
        s.connect()
        s.w = rng.uniform(0.1, 0.4, len(s))
        synapses.append(s)
    return [inputs, rec, out] + synapses


@pytest.mark.codegen_independent
def test_an_overflowing_gradient_stops_before_any_update():
    objects = network()
    s_in, s_out = objects[3], objects[4]
    before = [s_in.w[:].copy(), s_out.w[:].copy()]
    huge = np.full((20, 2), -1e308)
    learner = rb.RTRL([s_in.w, s_out.w], rb.losses.MSE(objects[2].y, huge),
                      optimizer=rb.optim.SGD(lr=1e-3))
    with pytest.raises(FloatingPointError,
                       match=r"at step \d+ \(step \d+ of the trial\) the gradient of 's_(in|out).w' "
                             r"\(entry \d+\) is -?inf. Learning stopped before it was used"):
        Network(*objects, learner).run(20 * ms)
    # updates before the overflow were finite and kept; nothing non-finite was written
    assert np.all(np.isfinite(s_in.w[:])) and np.all(np.isfinite(s_out.w[:]))
    assert len(learner.history["loss"]) < 20
    assert not np.array_equal(before[1], s_out.w[:]) or len(learner.history["loss"]) == 1


class Exploding:
    """An optimizer whose updates write infinity into the second parameter."""

    def step(self, params, grads):
        params[0] -= 0.01 * grads[0]
        params[1][0] = np.inf


@pytest.mark.codegen_independent
def test_a_non_finite_update_is_undone():
    objects = network()
    s_in, s_out = objects[3], objects[4]
    before = [s_in.w[:].copy(), s_out.w[:].copy()]
    learner = rb.RTRL([s_in.w, s_out.w], rb.losses.MSE(objects[2].y, np.zeros((10, 2))),
                      optimizer=Exploding(), update_every=3)
    with pytest.raises(FloatingPointError,
                       match=r"at step 2 \(step 2 of the trial\) the update made 's_out.w' "
                             r"\(entry 0\) is inf. Learning stopped and the update was undone"):
        Network(*objects, learner).run(10 * ms)
    assert np.array_equal(s_in.w[:], before[0]) and np.array_equal(s_out.w[:], before[1])


@pytest.mark.codegen_independent
def test_gradient_clipping_bounds_each_update():
    target = np.full((10, 2), 3.0)
    brian2.seed(3)
    objects = network(seed=1)
    reference = rb.RTRL([objects[3].w, objects[4].w], rb.losses.MSE(objects[2].y, target))
    Network(*objects, reference).run(10 * ms)
    gradient = np.concatenate([reference.gradient(objects[3].w),
                               reference.gradient(objects[4].w)])
    brian2.seed(3)
    objects = network(seed=1)  # the same network and input spikes
    s_in, s_out = objects[3], objects[4]
    clipped = rb.RTRL([s_in.w, s_out.w], rb.losses.MSE(objects[2].y, target),
                      optimizer=rb.optim.SGD(lr=1.0), update_every=10, clip_grad_norm=0.01)
    before = np.concatenate([s_in.w[:], s_out.w[:]])
    Network(*objects, clipped).run(10 * ms)
    step = np.concatenate([s_in.w[:], s_out.w[:]]) - before
    assert np.linalg.norm(gradient) > 0.01  # clipping was needed
    np.testing.assert_allclose(step, -0.01 * gradient / np.linalg.norm(gradient), rtol=1e-12)
    np.testing.assert_allclose(clipped.gradient(s_out.w), gradient[len(s_in):],
                               rtol=1e-12)  # what is accumulated stays unclipped
    with pytest.raises(ValueError, match="'clip_grad_norm' must be a positive number or None"):
        rb.RTRL([s_in.w], rb.losses.MSE(objects[2].y, target), clip_grad_norm=-1.0)


@pytest.mark.codegen_independent
def test_an_optimizer_given_after_the_learner_is_created_updates():
    """Found by CI (the benchmark's standalone study sets one later): the update must use
    the learner's optimizer at the time of the update."""
    target = np.full((10, 2), 3.0)
    brian2.seed(3)
    objects = network(seed=1)
    reference = rb.RTRL([objects[4].w], rb.losses.MSE(objects[2].y, target))
    Network(*objects, reference).run(10 * ms)
    brian2.seed(3)
    objects = network(seed=1)
    s_out = objects[4]
    before = s_out.w[:].copy()
    learner = rb.RTRL([s_out.w], rb.losses.MSE(objects[2].y, target), update_every=10)
    learner.optimizer = rb.optim.SGD(lr=0.5)
    Network(*objects, learner).run(10 * ms)
    np.testing.assert_allclose(s_out.w[:] - before, -0.5 * reference.gradient(s_out.w),
                               rtol=1e-12)
