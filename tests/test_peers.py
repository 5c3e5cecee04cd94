"""The peer comparison: its JAX mirror computes Brian2's map, and it says what it needs."""

import sys

import numpy as np
import pytest

from rtrl_brian.apps import peers
from rtrl_brian.apps.benchmark import use_benchmark_settings
from rtrl_brian.apps.cli import build_parser


def test_without_the_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "braintrace", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"'peers' extra.*pip install -e '\.\[peers\]'"):
        peers.peer_study(sizes=(16,))


def test_a_mirror_that_differs_from_brian2_is_not_timed():
    record = peers.PeerRecord(
        n=2, decay=0.9, threshold=1.0, width=0.5, gain=0.3, drive=np.zeros((3, 2)),
        pre=np.array([0]), post=np.array([1]), order=np.array([0]), weights=np.array([0.1]),
        state=np.zeros((3, 4)), gradient=np.ones(1), active_fraction=0.0, seed=0,
        step_starts=[], network=None, learner=None)
    assert peers.check_forward(record, np.full((3, 4), 1e-13), "some peer") == 1e-13
    with pytest.raises(AssertionError, match="some peer on the n=2 benchmark network differs "
                                             "from Brian2's run by 1e-09"):
        peers.check_forward(record, np.full((3, 4), 1e-9), "some peer")


def test_cli_bench_peers_arguments():
    args = build_parser().parse_args(["bench", "--peers", "--peer-sizes", "32", "--rounds", "2"])
    assert args.peers and args.peer_sizes == [32] and args.rounds == 2
    assert args.peer_steps == 50
    assert not build_parser().parse_args(["bench"]).peers


@pytest.mark.long
@pytest.mark.cython
def test_peers_on_a_small_network(tmp_path):
    """JAX BPTT and BrainTrace's exact rule give our gradient; its approximations do not."""
    pytest.importorskip("braintrace")
    costs = peers.run_peers(tmp_path, sizes=(16,), steps=30, rounds=1,
                            target="cython")
    by_method = {cost.method: cost for cost in costs}
    assert list(by_method) == list(peers.PEER_METHODS)
    for method, cost in by_method.items():
        assert not cost.note, cost.note
        assert cost.ms_median > 0 and cost.memory > 0
        assert cost.active_fraction > 0
    ours = by_method.pop("rtrl_brian")
    assert ours.max_error == 0 and ours.learner_ms > 0  # run again: the recorded gradient
    for method in ("jax bptt", "braintrace exact dense"):
        assert by_method[method].max_error < 1e-9, method
        assert by_method[method].forward_difference <= peers.FORWARD_TOLERANCE
    for method in ("d-rtrl", "es-d-rtrl"):
        dense, sparse = (by_method[f"braintrace {method} {layout}"]
                         for layout in ("dense", "sparse"))
        assert dense.max_error > 1e-3  # an approximation, measurably
        assert dense.cosine == pytest.approx(sparse.cosine, abs=1e-12)
    report = (tmp_path / "peers.md").read_text()
    assert "| 16 | braintrace exact dense |" in report and "BrainTrace 0." in report


@pytest.mark.long
@pytest.mark.cython
def test_exact_rule_refusal_is_reported(monkeypatch):
    """A method that refuses a size is a row with its reason, the others still run."""
    pytest.importorskip("braintrace")
    monkeypatch.setattr(peers, "EXACT_JACOBIAN", 10)
    use_benchmark_settings("cython")
    costs = peers.peer_study(sizes=(16,), steps=10, rounds=1,
                             methods=("rtrl_brian", "braintrace exact dense"))
    assert costs[0].ms_median > 0
    assert costs[1].note.startswith("refused: ") and np.isnan(costs[1].ms_median)
    assert "refused" in "\n".join(peers.peer_table(costs))
