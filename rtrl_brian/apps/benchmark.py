"""
Benchmarks: per-step cost of the engines, RTRL against BPTT, and the roofline.

Every figure comes from a learner's own `RTRL.history` (engine seconds,
multiply-adds, bytes of the influence matrix touched) on a recurrent LIF
network of ``n`` units driven by Poisson input. Its recurrent weights and a
two-unit readout are learned; the input weights are fixed. Two knobs set the
sparsity:

``density``
    Fraction of the ``n * (n - 1)`` recurrent synapses that exist
    (parameter sparsity is ``1 - density``).
``activity``
    Target fraction of units inside the surrogate's support per step
    (activity sparsity is ``1 - activity``); the surrogate's width is
    calibrated on a run of the same network to reach it (``1.0``: every unit).

`run_benchmarks` runs the studies side by side, so that ratios come from one
run on one machine, and writes a JSON file, a Markdown table and a figure;
it says what it is measuring through Brian2's logger (``rtrl_brian.apps.benchmark``, INFO).
"""

import contextlib
import itertools
import json
import os
import pathlib
import platform
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
from brian2 import get_logger

from ..targets import StandaloneTarget, available_threads

__all__ = ["StepCost", "benchmark_network", "calibrate_width", "measure_step",
           "machine_rates", "dense_floor", "target_study", "compiled_study", "TargetCost",
           "standalone_study", "rtrl_vs_bptt", "float32_error", "run_benchmarks",
           "ThreadCost", "thread_study", "serial_fraction", "projected_speedup",
           "use_benchmark_settings"]

logger = get_logger(__name__)

#: Threshold of the benchmark's LIF units (``v > THRESHOLD``).
THRESHOLD = 1.0


@dataclass
class StepCost:
    """What one learner step cost, averaged over the measured steps."""

    label: str
    n: int
    density: float
    engine: str
    dtype: str
    n_params: int
    active_fraction: float
    engine_ms: float
    learner_ms: float
    multiply_adds: float
    multiply_adds_dense: float
    bytes_touched: float
    M_bytes: int


def _lif_objects(n, density, seed, n_inputs=32):
    import brian2
    from brian2 import Hz, NeuronGroup, PoissonGroup, Synapses

    brian2.seed(seed)
    rng = np.random.default_rng(seed)
    # fixed names: the generated code is the same for every size, so Cython compiles it once
    inputs = PoissonGroup(n_inputs, rates=40 * Hz, name="bench_inputs")
    rec = NeuronGroup(n, "dv/dt = -v / (20*ms) : 1", threshold=f"v > {THRESHOLD}",
                      reset=f"v -= {THRESHOLD}", method="exact", name="bench_recurrent")
    out = NeuronGroup(2, "dy/dt = -y / (20*ms) : 1", method="exact", name="bench_readout")
    s_in = Synapses(inputs, rec, "w : 1", on_pre="v_post += w", name="bench_s_in")
    # connections drawn here, not by Brian2, so that every target builds the same network
    pre, post = _random_pairs(rng, n_inputs, n, 0.25)
    s_in.connect(i=pre, j=post)
    s_in.w = rng.uniform(0.0, 0.6, len(s_in))
    s_rec = Synapses(rec, rec, "w : 1", on_pre="v_post += w", name="bench_s_rec")
    pre, post = _random_pairs(rng, n, n, density)
    distinct = pre != post
    s_rec.connect(i=pre[distinct], j=post[distinct])
    s_rec.w = rng.normal(0.0, 0.5 / np.sqrt(max(1.0, density * n)), len(s_rec))
    s_out = Synapses(rec, out, "w : 1", on_pre="y_post += w", name="bench_s_out")
    pre, post = _random_pairs(rng, n, 2, 1.0)
    s_out.connect(i=pre, j=post)
    s_out.w = rng.normal(0.0, 0.1, len(s_out))
    return [inputs, rec, out, s_in, s_rec, s_out]


def _random_pairs(rng, n_pre, n_post, p):
    """Pre- and postsynaptic indices of the pairs kept with probability ``p``."""
    pre, post = np.nonzero(rng.random((n_pre, n_post)) < p)
    return pre, post


def calibrate_width(n, density, activity, seed=0, skip=20, steps=20):
    """
    Surrogate width that puts about ``activity`` of the units in its support.

    Runs the network (no learner) for ``skip + steps`` steps and takes the
    ``activity`` quantile of ``|v - threshold|`` over the last ``steps`` (the
    window a measurement uses). ``activity >= 1`` gives a width covering
    every unit.
    """
    from brian2 import Network, StateMonitor, defaultclock, start_scope

    if activity >= 1.0:
        return 1e6
    start_scope()
    objects = _lif_objects(n, density, seed)
    monitor = StateMonitor(objects[1], "v", record=True, when="thresholds", order=-1)
    Network(*objects, monitor).run((skip + steps) * defaultclock.dt)
    distance = np.abs(np.asarray(monitor.v)[:, skip:] - THRESHOLD)
    return float(np.quantile(distance, activity))


def benchmark_network(n, density, width, engine="sparse", dtype=np.float64, seed=0,
                      learner="rtrl", target_steps=1_000_000, threads=None, partition=None):
    """
    The benchmark network with a learner attached (its loss target has
    ``target_steps`` steps; ``threads``, ``partition``: the RTRL learner's).

    Returns
    -------
    network : Network
    learner : RTRL or BPTT
    """
    from brian2 import Network, start_scope

    from ..bptt import BPTT
    from ..losses import MSE
    from ..rtrl import RTRL
    from ..surrogates import Triangle

    start_scope()
    objects = _lif_objects(n, density, seed)
    s_rec, s_out, out = objects[4], objects[5], objects[2]
    loss = MSE(out.y, np.zeros((target_steps, 2)))
    surrogate = Triangle(width=width, gain=0.3)
    if learner == "rtrl":
        attached = RTRL([s_rec.w, s_out.w], loss, surrogate=surrogate, engine=engine,
                        dtype=dtype, threads=threads, partition=partition, namespace={})
    else:
        attached = BPTT([s_rec.w, s_out.w], loss, surrogate=surrogate, namespace={})
    return Network(*objects, attached), attached


def measure_step(n, density, activity, engine="sparse", dtype=np.float64, steps=20,
                 warmup=20, seed=0, label="", threads=None):
    """
    Mean cost of one learner step after ``warmup`` steps (``threads``: the
    learner's, default every core).

    Returns
    -------
    cost : StepCost
    """
    from brian2 import defaultclock

    width = calibrate_width(n, density, activity, seed, skip=warmup, steps=steps)
    network, learner = benchmark_network(n, density, width, engine, dtype, seed,
                                         threads=threads)
    network.run((warmup + steps) * defaultclock.dt)
    history = {key: np.asarray(values[warmup:], dtype=float)
               for key, values in learner.history.items() if key != "trial_loss"}
    return StepCost(label or f"{engine} n={n}", n, density, engine, np.dtype(dtype).name,
                    learner.ir.n_params, float(history["active_fraction"].mean()),
                    1e3 * float(history["engine_seconds"].mean()),
                    1e3 * float(history["step_seconds"].mean()),
                    float(history["multiply_adds"].mean()),
                    float(history["multiply_adds_dense"].mean()),
                    float(history["bytes"].mean()), int(learner.engine.nbytes))


def machine_rates(size=2048, copy_mb=256, repeats=3):
    """
    This machine's memory copy bandwidth and dense BLAS multiply-add rate.

    Returns
    -------
    rates : dict
        ``copy_bytes_per_s`` (bytes read plus written per second, one core's
        numpy copy) and ``blas_multiply_adds_per_s`` (float64 matrix product).
    """
    source = np.ones(copy_mb * 2 ** 20 // 8)
    target = np.empty_like(source)
    best_copy = min(_timed(lambda: np.copyto(target, source)) for _ in range(repeats))
    a = np.random.default_rng(0).random((size, size))
    best_gemm = min(_timed(lambda: a @ a) for _ in range(repeats))
    return {"copy_bytes_per_s": 2 * source.nbytes / best_copy,
            "blas_multiply_adds_per_s": size ** 3 / best_gemm}


def dense_floor(n_rows, n_params, repeats=3):
    """
    Seconds of one dense product ``J @ M``: the least a dense RTRL step does.

    ``J`` is ``(n_rows, n_rows)`` and ``M`` is ``(n_rows, n_params)``, float64;
    best of ``repeats``. A dense engine also adds the immediate influences and
    moves ``M`` through memory, so it cannot beat this.
    """
    rng = np.random.default_rng(0)
    jacobian = rng.random((n_rows, n_rows))
    influence = rng.random((n_rows, n_params))
    return min(_timed(lambda: jacobian @ influence) for _ in range(repeats))


def target_study(sizes, steps):
    """
    The sparse engine's kernels under the numpy and the cython target, side by side.

    Returns
    -------
    costs : list of StepCost
        Labelled with the target; the global target is restored afterwards.
    """
    from brian2 import prefs

    previous = prefs.codegen.target
    costs = []
    try:
        for n in sizes:
            for target in ("numpy", "cython"):
                prefs.codegen.target = target
                costs.append(measure_step(n, 0.1, 0.05, "sparse", steps=steps,
                                          label=f"sparse n={n}, {target} target"))
    finally:
        prefs.codegen.target = previous
    return costs


def compiled_study(sizes, steps):
    """
    The sparse engine (Cython kernels) against the compiled engine, side by side.

    On the cython target (the sparse engine's kernels follow it; the compiled
    engine compiles its step on any).

    Returns
    -------
    costs : list of StepCost
    """
    return [measure_step(n, 0.1, 0.05, engine, steps=steps, label=f"{engine} engine n={n}")
            for n in sizes for engine in ("sparse", "compiled")]


@dataclass
class ThreadCost:
    """Cost of one learner step with a number of threads (per-step min and median)."""

    label: str
    n: int
    engine: str
    threads: int
    threads_used: int  # the compiled engine's, fewer for few columns; the sparse engine: asked
    engine_ms_min: float
    engine_ms_median: float
    learner_ms_min: float
    learner_ms_median: float


def thread_study(sizes, steps, rounds=3, engines=("compiled", "sparse", "binary"), warmup=20):
    """
    Learner step time against the number of threads, 1 to every core.

    One network per size and engine; rounds alternate the thread counts on it
    (``learner.threads`` between runs), so that all counts see the same
    activity and the machine's drifts. ``'binary'``: the compiled step inside
    Brian2's cpp_standalone binary (one build per thread count,
    ``openmp_threads``, run once a round, at least 200,000 / n steps a run;
    left out without a compiler and make).

    Returns
    -------
    costs : list of ThreadCost
        Per size and engine, one per thread count (the sparse engine uses
        threads on the cython target only).
    """
    counts = list(range(1, available_threads() + 1))
    costs = []
    for n in sizes:
        width = calibrate_width(n, 0.1, 0.05, skip=warmup, steps=steps)
        for engine in engines:
            if engine == "binary":
                if not StandaloneTarget.is_available():
                    continue
                # a binary's run is short and its first steps page in its arrays: at least
                # about 0.2 s of steps a run (200,000 / n: 780 steps at n = 256)
                samples = _binary_thread_samples(n, width, counts, max(steps, 200_000 // n),
                                                 warmup, rounds)
            else:
                samples = _runtime_thread_samples(n, width, engine, counts, steps, rounds,
                                                  warmup)
            for k, (engine_seconds, learner_seconds, used) in samples.items():
                costs.append(ThreadCost(f"{engine} n={n}, {k} thread(s)", n, engine, k, used,
                                        1e3 * float(np.min(engine_seconds)),
                                        1e3 * float(np.median(engine_seconds)),
                                        1e3 * float(np.min(learner_seconds)),
                                        1e3 * float(np.median(learner_seconds))))
    return costs


def _runtime_thread_samples(n, width, engine, counts, steps, rounds, warmup):
    """Per thread count: per-step engine and learner seconds, and the threads used."""
    from brian2 import defaultclock

    network, learner = benchmark_network(n, 0.1, width, engine)
    network.run(warmup * defaultclock.dt)
    samples = {k: ([], []) for k in counts}
    for _ in range(rounds):
        for k in counts:
            learner.threads = k
            start = len(learner.history["step_seconds"])
            network.run(steps * defaultclock.dt)
            samples[k][0].extend(learner.history["engine_seconds"][start:])
            samples[k][1].extend(learner.history["step_seconds"][start:])
    used = {}
    for k in counts:
        learner.threads = k
        used[k] = getattr(learner.engine, "threads_used", k)
    return {k: (*samples[k], used[k]) for k in counts}


def _binary_thread_samples(n, width, counts, steps, warmup, rounds):
    """
    As `_runtime_thread_samples`, the compiled step in the binary: one build per count
    (``openmp_threads``), each in its own folder; rounds alternate the counts, running
    ``steps`` steps each (a count's build again in its folder: Brian2 writes only what
    changed, so make recompiles nothing).
    """
    from brian2 import defaultclock, prefs

    previous = prefs.devices.cpp_standalone.openmp_threads
    samples = {k: ([], []) for k in counts}
    try:
        with tempfile.TemporaryDirectory() as builds:
            for _ in range(rounds):
                for k in counts:
                    prefs.devices.cpp_standalone.openmp_threads = k
                    with _standalone_build(os.path.join(builds, str(k))):
                        network, learner = benchmark_network(n, 0.1, width, "compiled",
                                                             target_steps=warmup + steps)
                        network.run((warmup + steps) * defaultclock.dt)
                        samples[k][0].extend(learner.history["engine_seconds"][warmup:])
                        samples[k][1].extend(learner.history["step_seconds"][warmup:])
    finally:
        prefs.devices.cpp_standalone.openmp_threads = previous
    return {k: (*samples[k], k) for k in counts}


def serial_fraction(one, many, threads):
    """
    Amdahl's serial fraction ``s`` from the time on one thread and on
    ``threads``: ``many = one * (s + (1 - s) / threads)``.
    """
    return (many / one - 1.0 / threads) / (1.0 - 1.0 / threads)


def projected_speedup(serial, threads):
    """Amdahl's speed-up on ``threads`` with serial fraction ``serial`` (taken as at least
    0; an upper bound: memory bandwidth per core is not in it)."""
    serial = max(0.0, serial)
    return 1.0 / (serial + (1.0 - serial) / threads)


@dataclass
class TargetCost:
    """One simulated step with online learning (Adam) on one code-generation target."""

    label: str
    n: int
    target: str
    engine: str
    learner_ms: float  # the learner's part of a step (its history's step_seconds)
    step_ms: float  # a whole step: Brian2's simulation and the learner


def standalone_study(sizes, steps, warmup=20):
    """
    The learner under the numpy, cython and cpp_standalone targets, side by side.

    numpy: the sparse engine (numpy kernels, the numpy target's only engine);
    cython: the compiled engine; cpp_standalone: the same generated step
    inside Brian2's binary, with the loss and Adam in C too. Compile and build
    times are excluded (runtime: a warm-up run first; standalone: the
    binary's own run time).

    Returns
    -------
    costs : list of TargetCost
    """
    from brian2 import prefs

    previous = prefs.codegen.target
    costs = []
    try:
        for n in sizes:
            width = calibrate_width(n, 0.1, 0.05, skip=warmup, steps=steps)
            for target, engine in (("numpy", "sparse"), ("cython", "compiled"),
                                   ("cpp_standalone", "compiled")):
                costs.append(_target_cost(n, width, target, engine, steps, warmup))
    finally:
        prefs.codegen.target = previous
    return costs


@contextlib.contextmanager
def _standalone_build(directory=None):
    """Brian2 on cpp_standalone (building on run in ``directory``, default a temporary
    folder) meanwhile."""
    from brian2 import device, set_device

    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory())
        set_device("cpp_standalone", directory=directory, build_on_run=True, with_output=False)
        try:
            yield
        finally:
            device.reinit()
            set_device("runtime")
            device.reinit()
            device.activate()


def _target_cost(n, width, target, engine, steps, warmup):
    from brian2 import defaultclock, get_device, prefs

    from ..optim import Adam

    step = defaultclock.dt  # not 'dt': Brian2 would see it in the run namespace
    if target != "cpp_standalone":
        prefs.codegen.target = target
        network, learner = benchmark_network(n, 0.1, width, engine)
        learner.optimizer = Adam(lr=1e-3)
        network.run(warmup * step)  # compiles
        seconds = _timed(lambda: network.run(steps * step)) / steps
        learner_seconds = np.asarray(learner.history["step_seconds"])[warmup:]
    else:
        with _standalone_build():
            network, learner = benchmark_network(n, 0.1, width, engine,
                                                 target_steps=warmup + steps)
            learner.optimizer = Adam(lr=1e-3)
            network.run((warmup + steps) * step)
            seconds = get_device()._last_run_time / (warmup + steps)  # the binary's run time
            learner_seconds = np.asarray(learner.history["step_seconds"])
    return TargetCost(f"{target}, {engine} engine, n={n}", n, target, engine,
                      1e3 * float(np.mean(learner_seconds)), 1e3 * seconds)


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def rtrl_vs_bptt(n, density, activity, lengths, seed=0):
    """
    Memory and time of RTRL and BPTT against sequence length.

    RTRL holds the influence matrix (constant in time); BPTT records every
    step's linearization, then runs backward once.

    Returns
    -------
    rows : list of dict
    """
    from brian2 import defaultclock

    width = calibrate_width(n, density, activity, seed, skip=0, steps=min(lengths))
    rows = []
    for length in lengths:
        network, rtrl = benchmark_network(n, density, width, "sparse", seed=seed)
        started = time.perf_counter()
        network.run(length * defaultclock.dt)
        rtrl_seconds = time.perf_counter() - started
        network, bptt = benchmark_network(n, density, width, seed=seed, learner="bptt")
        started = time.perf_counter()
        network.run(length * defaultclock.dt)
        bptt.gradient(bptt.params[0])
        bptt_seconds = time.perf_counter() - started
        rows.append({"steps": length, "rtrl_bytes": int(rtrl.engine.nbytes),
                     "bptt_bytes": int(bptt.tape_nbytes), "rtrl_seconds": rtrl_seconds,
                     "bptt_seconds": bptt_seconds})
    return rows


def float32_error(n=256, density=0.1, activity=0.05, steps=200, seed=0):
    """
    Gradient error of a float32 influence matrix against float64.

    Both learners observe one run of the benchmark network.

    Returns
    -------
    error : dict
        Per parameter, ``max|g32 - g64| / max|g64|``.
    """
    from brian2 import Network, defaultclock

    from ..rtrl import RTRL

    width = calibrate_width(n, density, activity, seed, skip=0, steps=steps)
    network, reference = benchmark_network(n, density, width, seed=seed)
    single = RTRL(reference.params, reference.loss, surrogate=reference.surrogate,
                  dtype=np.float32, namespace={})
    Network(*network.objects, single).run(steps * defaultclock.dt)
    errors = {}
    for param, var in zip(reference.ir.params, reference.params):
        expected = reference.gradient(var)
        errors[param.label] = float(np.max(np.abs(single.gradient(var) - expected))
                                    / np.max(np.abs(expected)))
    return errors


def _sparsity_study(n, steps):
    """Dense RTRL without sparsity against the sparse engine with each sparsity."""
    cases = [("dense engine, no sparsity", 1.0, 1.0, "dense"),
             ("sparse engine, parameter + activity sparsity", 0.1, 0.05, "sparse"),
             ("sparse engine, parameter sparsity only", 0.1, 1.0, "sparse"),
             ("sparse engine, activity sparsity only", 1.0, 0.05, "sparse")]
    return [measure_step(n, density, activity, engine, steps=steps if engine == "sparse"
                         else max(3, steps // 5), label=label)
            for label, density, activity, engine in cases]


def use_benchmark_settings(target):
    """Brian2's code-generation ``target`` and the benchmarks' time step, 1 ms."""
    from brian2 import defaultclock, ms, prefs

    prefs.codegen.target = target
    defaultclock.dt = 1 * ms


def run_benchmarks(out_dir="benchmark_results", sizes=(64, 128, 256, 512, 1024),
                   sparsity_n=256, lengths=(100, 200, 400, 800), steps=20, target="cython",
                   target_sizes=(256, 1024), compiled_sizes=(16, 64, 256),
                   standalone_sizes=(64, 256), thread_sizes=(256, 1024)):
    """
    Run every study, write ``results.json``, ``results.md`` and ``benchmarks.png``.

    Parameters
    ----------
    out_dir : str or Path
    sizes : tuple of int
        Network sizes for the scaling study (90 % pruned, 5 % active).
    sparsity_n : int
        Size of the side-by-side sparsity study.
    lengths : tuple of int
        Sequence lengths of the RTRL-vs-BPTT study.
    steps : int
        Measured steps per sparse configuration.
    target : {'cython', 'numpy'}
        ``prefs.codegen.target`` for the run (simulation and sparse kernels).
    target_sizes : tuple of int
        Sizes at which the numpy and cython kernels are compared (cython runs
        only).
    compiled_sizes : tuple of int
        Sizes at which the sparse and the compiled engine are compared
        (cython runs only).
    standalone_sizes : tuple of int
        Sizes at which the learner runs under numpy, cython and cpp_standalone
        (cython runs only; needs a C++ compiler and make).
    thread_sizes : tuple of int
        Sizes at which the compiled and the sparse engine run on 1 to every
        core (cython runs only).

    Returns
    -------
    results : dict
    """
    use_benchmark_settings(target)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {"machine": {"python": platform.python_version(), "target": target,
                           "processor": platform.processor() or platform.machine()}}
    logger.info("machine rates ...")
    results["machine"].update(machine_rates())
    logger.info(f"sparsity study at n={sparsity_n} ...")
    results["sparsity"] = []
    for cost in _sparsity_study(sparsity_n, steps):
        results["sparsity"].append(asdict(cost))
        logger.info(f"  {cost.label}: {cost.engine_ms:.2f} ms engine, "
                    f"{cost.learner_ms:.2f} ms learner")
    dense = results["sparsity"][0]
    results["dense_floor_ms"] = 1e3 * dense_floor(dense["n"] + 2, dense["n_params"])
    logger.info(f"  one dense product J @ M of that size: {results['dense_floor_ms']:.1f} ms")
    logger.info("scaling study ...")
    results["scaling"] = []
    # the compiled engine compiles with Cython: on cython runs only, like the other studies
    engines = ("sparse", "compiled") if target == "cython" else ("sparse",)
    for n in sizes:
        for engine, dtype in ((e, d) for e in engines for d in (np.float64, np.float32)):
            cost = measure_step(n, 0.1, 0.05, engine, dtype, steps=steps,
                                label=f"{engine} n={n} {np.dtype(dtype).name}")
            results["scaling"].append(asdict(cost))
            logger.info(f"  {cost.label}: {cost.engine_ms:.2f} ms engine, "
                        f"{cost.learner_ms:.2f} ms learner, M {cost.M_bytes / 1e6:.1f} MB")
    if target == "cython":
        logger.info("numpy against cython kernels ...")
        results["targets"] = [asdict(cost) for cost in target_study(target_sizes, steps)]
        logger.info("sparse against compiled engine ...")
        results["compiled"] = [asdict(cost) for cost in compiled_study(compiled_sizes, steps)]
        if thread_sizes:
            logger.info(f"threads: 1 to {available_threads()} ...")
            results["threads"] = [asdict(cost) for cost in thread_study(thread_sizes, steps)]
        if StandaloneTarget.is_available():
            logger.info("numpy, cython and cpp_standalone ...")
            results["standalone"] = [asdict(cost) for cost in standalone_study(
                standalone_sizes, max(steps, 100))]
        else:
            logger.warn("no C++ compiler or make here: the cpp_standalone study is left out",
                        name_suffix="no_standalone")
    logger.info("RTRL vs BPTT ...")
    results["rtrl_vs_bptt"] = rtrl_vs_bptt(64, 0.1, 0.05, lengths)
    logger.info("float32 against float64 ...")
    results["float32_error"] = float32_error(sparsity_n)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    (out_dir / "results.md").write_text(results_table(results))
    plot_results(results, out_dir / "benchmarks.png")
    return results


def _roofline(cost, machine):
    bound = max(cost["bytes_touched"] / machine["copy_bytes_per_s"],
                cost["multiply_adds"] / machine["blas_multiply_adds_per_s"])
    return cost["engine_ms"] / 1e3 / bound if bound > 0 else float("nan")


def results_table(results):
    """The results as Markdown tables."""
    machine = results["machine"]
    lines = [f"Machine: copy bandwidth {machine['copy_bytes_per_s'] / 1e9:.1f} GB/s, "
             f"BLAS {machine['blas_multiply_adds_per_s'] / 1e9:.1f} G multiply-adds/s "
             f"(Python {machine['python']}, target {machine['target']}).", ""]
    dense = results["sparsity"][0]
    lines += ["| configuration | n | params | active | engine ms/step | learner ms/step "
              "| speed-up vs dense (engine) | multiply-adds | dense multiply-adds |",
              "|---|---|---|---|---|---|---|---|---|"]
    for cost in results["sparsity"]:
        lines.append(f"| {cost['label']} | {cost['n']} | {cost['n_params']} | "
                     f"{cost['active_fraction']:.1%} | {cost['engine_ms']:.2f} | "
                     f"{cost['learner_ms']:.2f} | {dense['engine_ms'] / cost['engine_ms']:.0f}x | "
                     f"{cost['multiply_adds']:.3g} | {cost['multiply_adds_dense']:.3g} |")
    if "dense_floor_ms" in results:
        sparse = results["sparsity"][1]
        lines += ["", f"One dense product `J @ M` of the unpruned network's size (the least any "
                      f"dense RTRL step does) took {results['dense_floor_ms']:.1f} ms: the sparse "
                      f"engine with both sparsities is "
                      f"{results['dense_floor_ms'] / sparse['engine_ms']:.0f}x faster than that "
                      f"floor, and {dense['engine_ms'] / sparse['engine_ms']:.0f}x faster than "
                      f"the dense engine."]
    if "targets" in results:
        lines += ["", "| kernels | n | engine ms/step | learner ms/step | cython speed-up |",
                  "|---|---|---|---|---|"]
        by_n = {}
        for cost in results["targets"]:
            by_n.setdefault(cost["n"], []).append(cost)
        for costs in by_n.values():
            numpy_ms = costs[0]["engine_ms"]
            for cost in costs:
                lines.append(f"| {cost['label']} | {cost['n']} | {cost['engine_ms']:.2f} | "
                             f"{cost['learner_ms']:.2f} | {numpy_ms / cost['engine_ms']:.1f}x |")
    if results.get("compiled"):
        lines += ["", "| engine | n | params | engine ms/step | learner ms/step | M MB "
                      "| multiply-adds/step | compiled speed-up (learner) |",
                  "|---|---|---|---|---|---|---|---|"]
        for sparse, compiled in zip(results["compiled"][::2], results["compiled"][1::2]):
            for cost in (sparse, compiled):
                lines.append(f"| {cost['label']} | {cost['n']} | {cost['n_params']} | "
                             f"{cost['engine_ms']:.3f} | {cost['learner_ms']:.3f} | "
                             f"{cost['M_bytes'] / 1e6:.2f} | {cost['multiply_adds']:.3g} | "
                             f"{sparse['learner_ms'] / cost['learner_ms']:.1f}x |")
    if results.get("standalone"):
        lines += ["", "| target | n | learner ms/step | whole step ms | learner speed-up vs "
                      "numpy | whole step speed-up vs numpy |", "|---|---|---|---|---|---|"]
        for start in range(0, len(results["standalone"]), 3):
            rows = results["standalone"][start:start + 3]
            for cost in rows:
                lines.append(f"| {cost['label']} | {cost['n']} | {cost['learner_ms']:.3f} | "
                             f"{cost['step_ms']:.3f} | "
                             f"{rows[0]['learner_ms'] / cost['learner_ms']:.0f}x | "
                             f"{rows[0]['step_ms'] / cost['step_ms']:.0f}x |")
    if results.get("threads"):
        lines += [""] + thread_table(results["threads"])
    lines += ["", "| engine | n | dtype | params | active | engine ms/step | learner ms/step "
              "| M MB | bytes touched/step | multiply-adds/step | x roofline bound |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for cost in results["scaling"]:
        lines.append(f"| {cost['engine']} | {cost['n']} | {cost['dtype']} | {cost['n_params']} | "
                     f"{cost['active_fraction']:.1%} | {cost['engine_ms']:.2f} | "
                     f"{cost['learner_ms']:.2f} | {cost['M_bytes'] / 1e6:.1f} | "
                     f"{cost['bytes_touched'] / 1e6:.2f} MB | {cost['multiply_adds']:.3g} | "
                     f"{_roofline(cost, machine):.1f} |")
    lines += ["", "| float32 influence matrix: parameter | relative gradient error vs float64 |",
              "|---|---|"]
    lines += [f"| {label} | {error:.2e} |" for label, error in results["float32_error"].items()]
    lines += ["", "| steps | RTRL memory | BPTT memory | RTRL s | BPTT s |", "|---|---|---|---|---|"]
    for row in results["rtrl_vs_bptt"]:
        lines.append(f"| {row['steps']} | {row['rtrl_bytes'] / 1e6:.2f} MB | "
                     f"{row['bptt_bytes'] / 1e6:.2f} MB | {row['rtrl_seconds']:.2f} | "
                     f"{row['bptt_seconds']:.2f} |")
    return "\n".join(lines) + "\n"


def thread_table(costs):
    """Speed-up against threads and the serial fraction, as Markdown lines."""
    lines = ["| engine | threads (used) | engine ms/step min / median | learner ms/step "
             "min / median | speed-up (learner, median) | serial fraction | projected "
             "16 / 64 cores |", "|---|---|---|---|---|---|---|"]
    one = {}
    for cost in costs:
        key = (cost["engine"], cost["n"])
        one.setdefault(key, cost)
        first = one[key]
        speedup = first["learner_ms_median"] / cost["learner_ms_median"]
        serial = projection = ""
        if cost["threads"] > 1:
            fraction = serial_fraction(first["learner_ms_median"], cost["learner_ms_median"],
                                       cost["threads"])
            serial = f"{fraction:.1%}"
            projection = " / ".join(f"{projected_speedup(fraction, k):.1f}x" for k in (16, 64))
        lines.append(f"| {cost['engine']} n={cost['n']} | {cost['threads']} "
                     f"({cost['threads_used']}) | {cost['engine_ms_min']:.3f} / "
                     f"{cost['engine_ms_median']:.3f} | {cost['learner_ms_min']:.3f} / "
                     f"{cost['learner_ms_median']:.3f} | {speedup:.2f}x | {serial} | "
                     f"{projection} |")
    return lines


def plot_results(results, path):
    """Step time against n, and memory against sequence length."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for (engine, style), (dtype, marker) in itertools.product(
            (("sparse", "-"), ("compiled", "--")), (("float64", "o"), ("float32", "s"))):
        rows = [c for c in results["scaling"] if (c["engine"], c["dtype"]) == (engine, dtype)]
        if rows:
            left.loglog([c["n"] for c in rows], [c["engine_ms"] for c in rows], style,
                        marker=marker, label=f"{engine} engine, {dtype}")
    dense = results["sparsity"][0]
    left.loglog([dense["n"]], [dense["engine_ms"]], "k*", markersize=12,
                label="dense engine, no sparsity")
    left.set_xlabel("recurrent units n (90 % pruned, 5 % active)")
    left.set_ylabel("ms per step (influence matrix)")
    left.legend(frameon=False)
    rows = results["rtrl_vs_bptt"]
    steps = [r["steps"] for r in rows]
    right.plot(steps, [r["rtrl_bytes"] / 1e6 for r in rows], "o-", label="RTRL (influence matrix)")
    right.plot(steps, [r["bptt_bytes"] / 1e6 for r in rows], "s-", label="BPTT (tape)")
    right.set_xlabel("sequence length (steps)")
    right.set_ylabel("memory (MB)")
    right.legend(frameon=False)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
