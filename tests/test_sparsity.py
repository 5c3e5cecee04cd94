"""Pruning and rewiring: memory falls, pruned weights stay zero, other gradients stay exact."""

import numpy as np
import pytest
from brian2 import Network, ms

import rtrl_brian as rb
from rtrl_brian.sparsity import MagnitudePruning, Rewiring, magnitude_prune, random_prune
from helpers import relative_error
from test_sparse_engine import STEPS, build


def learners(engine_pruned="sparse", **options):
    objects, params, loss = build("lif-refractory", seed=3, p_rec=0.6)
    surrogate = rb.surrogates.Triangle(0.4, 0.5)
    pruned = rb.RTRL(params, loss, surrogate=surrogate, engine=engine_pruned, **options)
    reference = rb.RTRL(params, loss, surrogate=surrogate, engine="dense")
    return objects, params, pruned, reference


@pytest.mark.codegen_independent
@pytest.mark.parametrize("engine", ["sparse", "dense"])
def test_pruned_synapses_are_parameters_fixed_at_zero(engine):
    objects, params, pruned, reference = learners(engine)
    s_rec = objects[4]
    before, n_params = pruned.engine.nbytes, pruned.engine.n_columns
    random_prune(pruned, s_rec.w, 0.7, seed=1)
    mask = pruned.pruned(s_rec.w)
    assert abs(mask.mean() - 0.7) < 0.02 and np.all(s_rec.w[:][mask] == 0)
    assert pruned.engine.n_columns == n_params - mask.sum()
    # the influence matrix shrinks with its columns (per-row scales are all that stays)
    assert pruned.engine.nbytes / before < 1.01 * pruned.engine.n_columns / n_params
    Network(*objects, pruned, reference).run(STEPS * ms)
    for index, var in enumerate(params):
        expected = reference.gradient(var)
        if index == 1:  # s_rec.w
            assert np.all(pruned.gradient(var)[mask] == 0)
            expected = np.where(mask, 0.0, expected)
        assert relative_error(pruned.gradient(var), expected) < 1e-12, var.name


@pytest.mark.codegen_independent
def test_pruning_in_the_middle_of_a_run_keeps_sparse_equal_to_dense():
    objects, params, sparse, dense = learners()
    s_rec = objects[4]
    network = Network(*objects, sparse, dense)
    network.run(10 * ms)  # influence rows are non-zero, some lazily scaled
    chosen = np.flatnonzero(np.abs(s_rec.w[:]) < np.median(np.abs(s_rec.w[:])))
    for learner in (sparse, dense):
        learner.prune(s_rec.w, chosen)
    network.run(10 * ms)
    for var in params:
        assert relative_error(sparse.gradient(var), dense.gradient(var)) < 1e-12, var.name
    for block in sparse.layout.blocks:
        assert relative_error(sparse.engine.influence(block), dense.engine.influence(block)) \
            < 1e-12, block


@pytest.mark.codegen_independent
def test_pruned_weights_stay_zero_under_the_optimizer():
    objects, params, learner, _ = learners(optimizer=rb.optim.Adam(lr=1e-2))
    s_rec = objects[4]
    network = Network(*objects, learner)
    network.run(10 * ms)  # moments are non-zero before pruning
    magnitude_prune(learner, s_rec.w, 0.5)
    mask = learner.pruned(s_rec.w)
    kept = np.abs(s_rec.w[:][~mask])
    network.run(20 * ms)
    assert np.all(s_rec.w[:][mask] == 0)
    assert not np.allclose(np.abs(s_rec.w[:][~mask]), kept)  # the others keep learning


@pytest.mark.codegen_independent
def test_regrown_synapse_starts_with_zero_influence():
    objects, params, learner, _ = learners()
    s_rec = objects[4]
    random_prune(learner, s_rec.w, 0.5, seed=0)
    columns = learner.engine.n_columns
    chosen = np.flatnonzero(learner.pruned(s_rec.w))[:5]
    learner.regrow(s_rec.w, chosen, value=0.1)
    assert learner.engine.n_columns == columns + 5
    assert np.all(s_rec.w[:][chosen] == 0.1) and not learner.pruned(s_rec.w)[chosen].any()
    column = learner.engine.column_of[learner.ir.param_for(s_rec, "w").offset + chosen]
    assert np.all(learner.engine.S[:, column] == 0)


@pytest.mark.codegen_independent
def test_magnitude_pruning_schedule_reaches_its_target():
    objects, params, learner, _ = learners(optimizer=rb.optim.SGD(lr=1e-3))
    s_rec = objects[4]
    schedule = MagnitudePruning(s_rec.w, final=0.8, start=5, end=25, every=5)
    learner.sparsity.append(schedule)
    columns = [learner.engine.n_columns]
    network = Network(*objects, learner)
    for _ in range(6):
        network.run(5 * ms)
        columns.append(learner.engine.n_columns)
    assert schedule.target(5) == 0.0 and schedule.target(25) == pytest.approx(0.8)
    assert abs(learner.pruned(s_rec.w).mean() - 0.8) < 0.01
    assert all(later <= earlier for earlier, later in zip(columns, columns[1:]))
    assert columns[-1] < columns[0]


@pytest.mark.codegen_independent
def test_rewiring_keeps_sparsity_and_moves_synapses():
    objects, params, learner, _ = learners(optimizer=rb.optim.SGD(lr=1e-3))
    s_rec = objects[4]
    random_prune(learner, s_rec.w, 0.6, seed=2)
    before = learner.pruned(s_rec.w).copy()
    learner.sparsity.append(Rewiring(s_rec.w, fraction=0.2, every=10, seed=0))
    Network(*objects, learner).run(30 * ms)
    after = learner.pruned(s_rec.w)
    assert after.sum() == before.sum()
    assert np.any(after != before)


def test_bad_sparsity_arguments_are_refused():
    with pytest.raises(ValueError, match=r"'sparsity' must lie in \[0, 1\), got 1.0"):
        MagnitudePruning(None, final=1.0, start=0, end=10)
    with pytest.raises(ValueError, match="need 0 <= start < end"):
        MagnitudePruning(None, final=0.5, start=10, end=10)
    with pytest.raises(ValueError, match=r"'fraction' must lie in \(0, 1\)"):
        Rewiring(None, fraction=0.0)
