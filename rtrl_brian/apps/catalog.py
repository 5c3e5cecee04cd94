"""
The built-in tasks and network models by name, what each is, and the settings
``rtrl-brian train`` starts from: the command line's choices and help, without
importing Brian2 (`rtrl_brian.apps.tasks.TASKS` and `rtrl_brian.apps.networks.MODELS` hold
the classes and builders under the same names).
"""

#: Task name to a one-line description.
TASK_SUMMARIES = {
    "pattern": "reproduce a sum of sines from a frozen input spike pattern (regression, "
               "MSE; scored by normalised MSE; e-prop, Bellec et al. 2020)",
    "evidence": "count cues shown on two sides and, after a delay, answer which side had "
                "more (classification; the e-prop evidence-accumulation task)",
    "recall": "remember a short sequence of bits and play it back after a delay "
              "(classification, one decision per bit)",
    "spiral": "tell the direction of a spiral from two analog inputs (classification on "
              "the last step; Subramoney 2023)",
}

#: Network model name to a one-line description.
MODEL_SUMMARIES = {
    "lif": "leaky integrate-and-fire units, spikes through a surrogate derivative",
    "alif": "LIF units with an adaptive threshold (a fraction of them adapt)",
    "egru": "event-based gated recurrent units (Subramoney et al. 2023)",
    "sparse_rnn": "thresholded tanh units sending graded events (Subramoney 2023)",
}

#: Settings `rtrl-brian train` starts from for each task (any can be overridden).
TASK_SETTINGS = {
    "pattern": dict(model="lif", neurons=100, sparsity=0.8, trials=200, test_trials=5,
                    lr=3e-3, update_every=10),
    "evidence": dict(model="alif", neurons=100, sparsity=0.9, trials=2000, test_trials=200,
                     lr=3e-3, update_every=10, adaptive_fraction=0.5),
    "recall": dict(model="alif", neurons=100, sparsity=0.9, trials=1000, test_trials=200,
                   lr=3e-3, update_every=10, adaptive_fraction=0.5),
    "spiral": dict(model="egru", neurons=16, sparsity=0.0, trials=1000, test_trials=500,
                   lr=3e-3, update_every=1),
}
