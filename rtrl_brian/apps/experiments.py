"""
The spiral study of Subramoney (2023, arXiv:2303.05641), online.

`train_spiral` trains EGRU, thresholded-tanh or spiking units with exact online RTRL
on `tasks.Spiral`, one sequence at a time, at a given recurrent parameter
sparsity, and records what the paper reports: loss per sequence, activity
sparsity, influence-matrix sparsity and multiply-adds done (against the dense
engine's), plus accuracy on held-out sequences.
"""

from .tasks import Spiral
from .training import Training

__all__ = ["train_spiral"]


def train_spiral(model="egru", units=16, sparsity=0.0, seed=0, sequences=None, task=None,
                 lr=3e-3, activity_sparse=True, theta=0.2, test_sequences=None,
                 activity_weight=0.0, thresholds="constant", surrogate_width=None):
    """
    Train recurrent units online on spiral direction classification.

    Parameters
    ----------
    model : {'egru', 'sparse_rnn', 'lif', 'alif'}
        `rtrl_brian.models.egru`, `rtrl_brian.models.sparse_rnn` units, or
        spiking `lif` / `alif` units (half of them adaptive).
    units : int
    sparsity : float
        Fraction of recurrent synapses pruned (a static random mask).
    seed : int
    sequences : int, optional
        Training sequences to use (default: the whole training split).
    task : Spiral, optional
        Default ``Spiral(seed=0)`` (10,000 sequences, 17 steps).
    lr : float
        Adam learning rate.
    activity_sparse : bool
        False disables activity sparsity (the control): every unit sends an
        event every step (threshold far below the state's range).
    theta : float
        Initial threshold of the units.
    test_sequences : int, optional
        Held-out sequences evaluated at the end (default: the whole test split).
    activity_weight : float
        EGRU: weight of the activity regulariser on events (0: none).
    thresholds : {'constant', 'beta'}
        EGRU: initial thresholds all ``theta``, or drawn around it as the EGRU
        papers do.
    surrogate_width : float, optional
        The width of the model's surrogate (a narrower one has fewer units in its
        support); default: the model's.

    Returns
    -------
    run : TrainingRun
        ``test_score`` is the held-out accuracy.
    """
    if model not in ("egru", "sparse_rnn", "lif", "alif"):
        raise ValueError(f"Unknown model {model!r}; choose 'egru', 'sparse_rnn', 'lif' or "
                         f"'alif'.")
    if not activity_sparse and model in ("lif", "alif"):
        raise ValueError("The control without activity sparsity (every unit sending every "
                         "step) exists for 'egru' and 'sparse_rnn' units only.")
    task = task if task is not None else Spiral(seed=0)
    training = Training(task, model, units, trials=sequences or len(task.train),
                        test_trials=test_sequences or len(task.test), sparsity=sparsity,
                        seed=seed, lr=lr, theta=theta if activity_sparse else -1e6,
                        adaptive_fraction=0.5, activity_weight=activity_weight,
                        thresholds=thresholds,
                        surrogate_width=surrogate_width)
    return training.run(report_seconds=30.0)
