"""
Applications built on the library: ready networks and tasks, online training
trial after trial, the demo, the spiral study, reports, benchmarks and the
``rtrl-brian`` command line. The library itself (the learner, losses,
optimizers, surrogates, sparsity, plots) does not import them.
"""
