"""The demo writes its figures; check_gradients agrees RTRL with BPTT on random networks."""

import numpy as np
import pytest
from brian2 import NeuronGroup, PoissonGroup, Synapses, TimedArray, Hz, ms, run

import rtrl_brian as rb
from rtrl_brian.demo import run_demo


def test_demo_writes_figures_and_losses(tmp_path):
    losses = run_demo(tmp_path, trials=3, n_rec=8, steps=30, log=lambda line: None)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    for name in ("raster.png", "learning_curve.png", "readout.png", "losses.csv"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.codegen_independent
@pytest.mark.xfail(strict=True, raises=RuntimeError,
                   reason="open bug: the replay check finds a mismatch with Brian2 in this "
                          "network (refractoriness + Poisson input + recurrent pathway); "
                          "under investigation")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_gradients_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 12))
    drive = TimedArray(rng.uniform(0, 0.3, 40), dt=1 * ms)
    poisson = PoissonGroup(6, rates=150 * Hz)
    rec = NeuronGroup(n, """dv/dt = (-v + drive(t) + b) / tau : 1 (unless refractory)
                            da/dt = -a / (30*ms) : 1
                            b : 1 (constant)
                            tau : second (constant)
                            v_th : 1 (constant)""",
                      threshold="v > v_th + 0.2*a", reset="v = 0; a += 0.5", refractory=2 * ms,
                      method=rng.choice(["euler", "rk2", "exact"]))
    rec.tau = rng.uniform(10, 30, n) * ms
    rec.v_th = rng.uniform(0.6, 1.0, n)
    rec.b = rng.uniform(0, 0.5, n)
    out = NeuronGroup(2, "dy/dt = -y / (10*ms) : 1", method="exact")
    s_in = Synapses(poisson, rec, "w : 1", on_pre="v_post += w")
    s_in.connect(p=0.6)
    s_in.w = rng.uniform(0.1, 0.5, len(s_in))
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v_post += w * (1 - 0.1*a_post)")
    s_rec.connect("i != j", p=0.4)
    s_rec.w = rng.normal(0, 0.3, len(s_rec))
    s_out = Synapses(rec, out, "w : 1", on_pre="y_post += w")
    s_out.connect()
    s_out.w = rng.normal(0, 0.5, len(s_out))
    loss = rb.losses.CrossEntropy(out.y, labels=1, mask=np.arange(40) >= 20)
    result = rb.check_gradients([s_in.w, s_rec.w, s_out.w, rec.tau, rec.v_th, rec.b], loss,
                                40 * ms)
    assert result.max_error < 1e-9, str(result)
    assert all(np.abs(g).max() > 0 for g in result.bptt.values()), str(result)
    run(1 * ms)  # the checked objects can still be simulated with run()
