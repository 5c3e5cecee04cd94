"""
Peers side by side: BrainTrace's online rules and a JAX BPTT on our benchmark network.

The benchmark network (`rtrl_brian.apps.benchmark`: Poisson inputs, ``n``
recurrent LIF units with 10 % of their synapses, a two-unit leaky readout,
MSE loss, triangular surrogate) is run once in Brian2 with an RTRL learner,
recording its inputs, its state at the end of every step and the exact
gradient. The same discrete map is then written in JAX
(`jax_forward`), and checked equal to Brian2's trace (``1e-12``) before
anything is timed:

``jax bptt``
    Reverse-mode gradient of the whole sequence (offline, the gradient an
    exact online rule must equal).
``braintrace exact``
    BrainTrace's ``SnAp`` at an order at least the network's diameter
    (saturated: full within-group RTRL). BrainTrace keeps no influence between
    hidden groups, so the mirror holds recurrent units and readout in one
    state vector (one group); with a separate leaky readout group its
    recurrent gradient would be zero.
``braintrace d-rtrl`` and ``braintrace es-d-rtrl``
    Its approximate rules (diagonal RTRL and its input-output factorised
    variant), on the same mirror.

Each method's gradient over the recorded sequence is compared with ours
(cosine and relative error in max-norm); then every method runs the same
sequence in interleaved rounds, and the time per step (minimum and median
over rounds) and the memory it carries from step to step are reported.

Needs the ``peers`` extra (``pip install -e '.[peers]'``, Python >= 3.12):
BrainTrace and JAX, run in float64.
"""

import importlib
import json
import pathlib
import platform
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from brian2 import get_logger

from .benchmark import _timed

__all__ = ["PeerRecord", "Peer", "PeerCost", "record_run", "check_forward", "ours",
           "jax_bptt", "braintrace_rule", "peer_study", "peer_table", "run_peers",
           "PEER_METHODS"]

logger = get_logger(__name__)

#: The methods, in the order of the tables (ours first). BrainTrace's rules run on
#: a dense or a sparse (CSR) recurrent matrix: neither is faster at every size.
PEER_METHODS = ("rtrl_brian", "jax bptt", "braintrace exact dense", "braintrace d-rtrl dense",
                "braintrace d-rtrl sparse", "braintrace es-d-rtrl dense",
                "braintrace es-d-rtrl sparse")

#: ES-D-RTRL's decay of its input and output traces (BrainTrace's documented example).
ES_DECAY = 0.9

#: Most elements of the Jacobian BrainTrace's exact rule may build (1 GiB of float64;
#: its default admits about half a gigabyte).
EXACT_JACOBIAN = 2 ** 27

#: Largest difference allowed between Brian2's state and the JAX mirror's.
FORWARD_TOLERANCE = 1e-12


def _require_peers():
    """Import JAX (float64) and BrainTrace, or say which extra is missing."""
    try:
        import jax
        importlib.import_module("braintrace")
    except ImportError as error:
        raise ImportError(
            "rtrl-brian bench --peers needs the 'peers' extra (BrainTrace and JAX, Python "
            "3.12 or later): pip install -e '.[peers]'") from error
    jax.config.update("jax_enable_x64", True)
    return jax


@dataclass
class PeerRecord:
    """
    One recorded run of the benchmark network: what a mirror needs and what it must match.

    The learned synapses (recurrent, then readout) are listed in the
    row-major order of one ``(n, n + 2)`` matrix from recurrent units to the
    state vector ``[v, y]``; ``order[k]`` is the index of entry ``k`` in our
    gradient (``s_rec.w`` then ``s_out.w``).
    """

    n: int
    decay: float
    threshold: float
    width: float
    gain: float
    drive: np.ndarray        # (steps, n): input synapses' contribution per step
    pre: np.ndarray
    post: np.ndarray
    order: np.ndarray
    weights: np.ndarray      # in matrix order
    state: np.ndarray        # (steps, n + 2): Brian2's v and y at the end of each step
    gradient: np.ndarray     # our exact gradient, in matrix order
    active_fraction: float
    seed: int
    step_starts: list        # perf_counter() at the start of each step of the last run
    network: object = field(repr=False)
    learner: object = field(repr=False)

    @property
    def steps(self):
        return len(self.drive)


def record_run(n, steps, density=0.1, activity=0.05, seed=0, engine="compiled"):
    """
    Run the benchmark network for ``steps`` steps from rest with an RTRL learner.

    Returns
    -------
    record : PeerRecord
        Its ``network`` and ``learner`` stay usable for timing (monitors removed).
    """
    from brian2 import NetworkOperation, SpikeMonitor, StateMonitor, defaultclock

    from .benchmark import THRESHOLD, benchmark_network, calibrate_width

    width = calibrate_width(n, density, activity, seed, skip=0, steps=steps)
    network, learner = benchmark_network(n, density, width, engine, seed=seed)
    inputs, rec, out = network["bench_inputs"], network["bench_recurrent"], network["bench_readout"]
    s_in, s_rec, s_out = network["bench_s_in"], network["bench_s_rec"], network["bench_s_out"]
    incoming = np.zeros((inputs.N, n))
    incoming[s_in.i[:], s_in.j[:]] = s_in.w[:]
    pre = np.concatenate([s_rec.i[:], s_out.i[:]])
    post = np.concatenate([s_rec.j[:], n + s_out.j[:]])
    weights = np.concatenate([s_rec.w[:], s_out.w[:]])
    order = np.lexsort((post, pre))
    monitors = [SpikeMonitor(inputs), StateMonitor(rec, "v", record=True, when="end"),
                StateMonitor(out, "y", record=True, when="end")]
    step_starts = []
    network.add(NetworkOperation(lambda: step_starts.append(time.perf_counter()),
                                 when="start", name="peers_stopwatch"))
    network.store("rest")
    network.add(*monitors)
    _seed(seed)
    network.run(steps * defaultclock.dt)
    network.remove(*monitors)
    spikes = np.zeros((steps, inputs.N))
    spike_steps = np.round(np.asarray(monitors[0].t / defaultclock.dt)).astype(int)
    spikes[spike_steps, monitors[0].i[:]] = 1.0
    gradient = np.concatenate([learner.gradient(s_rec.w), learner.gradient(s_out.w)])
    return PeerRecord(
        n=n, decay=float(np.exp(-float(defaultclock.dt) / 20e-3)), threshold=THRESHOLD,
        width=learner.surrogate.width, gain=learner.surrogate.gain, drive=spikes @ incoming,
        pre=pre[order], post=post[order], order=order, weights=weights[order],
        state=np.hstack([np.asarray(monitors[1].v).T, np.asarray(monitors[2].y).T]),
        gradient=gradient[order],
        active_fraction=float(np.mean(learner.history["active_fraction"])), seed=seed,
        step_starts=step_starts, network=network, learner=learner)


def _seed(seed):
    """
    The inputs' random numbers from the start: Brian2's seed, which also
    empties the cython target's buffer of random numbers. (Restoring the
    random state with the network does not: under cython the saved state
    holds a pointer to a buffer freed since, and reusing it crashes.)
    """
    import brian2

    brian2.seed(seed)


def _spike_function(record):
    """Heaviside of ``v - threshold`` with our triangular surrogate as its derivative."""
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def spike(x):
        return (x > 0).astype(x.dtype)

    @spike.defjvp
    def spike_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        psi = record.gain * jnp.maximum(0.0, 1.0 - jnp.abs(x) / record.width)
        return spike(x), psi * dx

    return spike


def _transition(record, recurrent_product):
    """
    One step of the benchmark network's discrete map on the state ``[v, y]``.

    Brian2's order: both groups decay, the recurrent units cross threshold,
    the synapses add (inputs to ``v``; spikes to ``v`` and ``y``), the
    reset subtracts the threshold (differentiated, as our default).
    ``recurrent_product(z, weights)`` is spikes times the learned matrix.
    """
    import jax.numpy as jnp

    spike, n = _spike_function(record), record.n

    def step(state, weights, drive):
        decayed = record.decay * state
        z = spike(decayed[:n] - record.threshold)
        own = jnp.concatenate([drive - record.threshold * z, jnp.zeros(2)])
        return decayed + own + recurrent_product(z, weights)

    return step


def _segment_product(record):
    import jax.numpy as jnp

    pre, post, size = np.asarray(record.pre), np.asarray(record.post), record.n + 2

    def product(z, weights):
        return jnp.zeros(size).at[post].add(z[pre] * weights)

    return product


@dataclass
class Peer:
    """
    One method on a recorded run: ``run()`` drives the whole sequence from
    rest and returns its gradient (matrix order) and the state ``[v, y]`` at
    the end of every step (``None``: ours, the reference); ``memory`` is what
    it carries from step to step (bytes). ``step_seconds()``, when given,
    measures one step its own way (default: ``run()``'s wall time per step).
    """

    method: str
    run: object
    memory: int
    step_seconds: object = None


def check_forward(record, states, method):
    """
    Refuse to time a method that does not compute Brian2's map.

    Returns
    -------
    difference : float
        Largest absolute difference between its states and Brian2's.

    Raises
    ------
    AssertionError
        If it exceeds `FORWARD_TOLERANCE`.
    """
    difference = float(np.max(np.abs(np.asarray(states) - record.state)))
    if not difference <= FORWARD_TOLERANCE:
        raise AssertionError(
            f"{method} on the n={record.n} benchmark network differs from Brian2's run by "
            f"{difference:.3g} (allowed {FORWARD_TOLERANCE:g}): not timed")
    return difference


def ours(record):
    """
    Our learner on the recorded run again (restored to rest, the same inputs).

    ``memory``: the engine's influence matrix and traces. ``step_seconds``:
    the whole step (Brian2's objects and the learner) from the start of the
    first step to the start of the last, so that each `run()`'s fixed cost
    (Brian2 prepares its objects and collects garbage) is left out, as a
    long run amortises it.
    """
    from brian2 import defaultclock

    network, learner = record.network, record.learner

    def run():
        network.restore("rest")
        _seed(record.seed)
        learner.zero_grad()
        record.step_starts.clear()
        network.run(record.steps * defaultclock.dt)
        gradient = np.concatenate([learner.gradient(network[name].w)
                                   for name in ("bench_s_rec", "bench_s_out")])
        return gradient[record.order], None

    def step_seconds():
        run()
        return (record.step_starts[-1] - record.step_starts[0]) / (record.steps - 1)

    return Peer("rtrl_brian", run, int(learner.engine.nbytes), step_seconds)


def jax_bptt(record):
    """
    Offline BPTT of the summed MSE loss through the JAX mirror.

    ``memory``: XLA's temporaries for the whole sequence (the tape).
    """
    jax = _require_peers()
    numpy = jax.numpy
    step, n = _transition(record, _segment_product(record)), record.n

    def loss(weights, drive):
        def body(state, drive_t):
            state = step(state, weights, drive_t)
            return state, state
        states = jax.lax.scan(body, numpy.zeros(n + 2), drive)[1]
        return 0.5 * numpy.sum(states[:, n:] ** 2), states

    compiled = jax.jit(jax.grad(loss, has_aux=True)).lower(record.weights,
                                                          record.drive).compile()

    def run():
        gradient, states = compiled(record.weights, record.drive)
        return np.asarray(gradient), np.asarray(states)

    memory = compiled.memory_analysis()
    return Peer("jax bptt", run, int(getattr(memory, "temp_size_in_bytes", 0)))


def braintrace_rule(record, rule, layout):
    """
    One of BrainTrace's online rules on the mirror (recurrent units and readout one group).

    Parameters
    ----------
    record : PeerRecord
    rule : {'exact', 'd-rtrl', 'es-d-rtrl'}
    layout : {'dense', 'sparse'}
        The learned matrix as a dense ``(n, n + 2)`` array (zero where no
        synapse exists; the gradient is read at the synapses) or as a CSR
        matrix of the synapses alone.

    ``memory``: its eligibility traces.
    """
    jax = _require_peers()
    import brainevent
    import brainstate
    import braintrace
    import jax.numpy as jnp

    n, dense = record.n, layout == "dense"
    if dense:
        matrix = np.zeros((n, n + 2))
        matrix[record.pre, record.post] = record.weights
        initial = jnp.asarray(matrix)
        step = _transition(record, braintrace.matmul)
    else:
        indptr = np.searchsorted(record.pre, np.arange(n + 1)).astype(np.int32)
        structure = brainevent.CSR((jnp.asarray(record.weights), jnp.asarray(
            record.post, dtype=np.int32), jnp.asarray(indptr)), shape=(n, n + 2))
        initial = jnp.asarray(record.weights)
        step = _transition(record, lambda z, weights: braintrace.sparse_matmul(
            z, weights, sparse_mat=structure))

    class Mirror(brainstate.nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = brainstate.ParamState(initial)

        def init_state(self, *args, **kwargs):
            self.state = brainstate.HiddenState(jnp.zeros(n + 2))

        def update(self, drive):
            self.state.value = step(self.state.value, self.weights.value, drive)
            return self.state.value

    # at the saturated order its Jacobian has (n + 2)**3 elements
    exact = {"n": n + 2, "snap_max_jacobian_elements": EXACT_JACOBIAN}
    algorithm, options = {"exact": (braintrace.SnAp, exact),
                          "d-rtrl": (braintrace.D_RTRL, {}),
                          "es-d-rtrl": (braintrace.ES_D_RTRL, {"decay_or_rank": ES_DECAY}),
                          }[rule]
    model = Mirror()
    with warnings.catch_warnings():
        # the exact rule's pattern is all-to-all by choice (the saturated order); its
        # warning that it widened the pattern to all-to-all says nothing new
        warnings.filterwarnings("ignore", message="The SnAp-n position analysis")
        learner = braintrace.compile(model, algorithm, jnp.zeros(n), **options)

    def step_loss(drive):
        state = learner(drive)
        return 0.5 * jnp.sum(state[n:] ** 2), state

    @brainstate.transform.jit
    def drive_sequence(drive):
        brainstate.nn.init_all_states(model)
        learner.reset_state()
        return learner.etrace_grad(drive, step_fn=step_loss, reduction="sum", has_aux=True)

    def run():
        grads, states = drive_sequence(jnp.asarray(record.drive))
        gradient = np.asarray(next(iter(grads.values())))
        return (gradient[record.pre, record.post] if dense else gradient), np.asarray(states)

    memory = sum(leaf.nbytes for trace in _eligibility_traces(learner)
                 for leaf in jax.tree.leaves(trace.value))
    return Peer(f"braintrace {rule} {layout}", run, int(memory))


def _eligibility_traces(learner):
    """Every `braintrace.EligibilityTrace` a BrainTrace learner holds."""
    import braintrace

    traces, seen, pending = [], set(), [learner]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, braintrace.EligibilityTrace):
            traces.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif type(item).__module__.startswith(("braintrace", "brainstate")) and hasattr(
                item, "__dict__"):
            pending.extend(vars(item).values())
    return traces


@dataclass
class PeerCost:
    """
    One method on one network size: time per step, memory, and its gradient
    against ours (``note``: why a method was left out, if it was).
    """

    n: int
    method: str
    active_fraction: float
    ms_min: float = float("nan")
    ms_median: float = float("nan")
    learner_ms: float = float("nan")
    memory: int = 0
    cosine: float = float("nan")
    max_error: float = float("nan")
    forward_difference: float = float("nan")
    note: str = ""


def _peer(record, method):
    if method == "rtrl_brian":
        return ours(record)
    if method == "jax bptt":
        return jax_bptt(record)
    _, rule, layout = method.split()
    return braintrace_rule(record, rule, layout)


def _compared(gradient, exact):
    """Cosine and relative max-norm error of ``gradient`` against ``exact``."""
    cosine = float(gradient @ exact / (np.linalg.norm(gradient) * np.linalg.norm(exact)))
    return cosine, float(np.max(np.abs(gradient - exact)) / np.max(np.abs(exact)))


def peer_study(sizes=(64, 256, 1024), steps=50, rounds=3, density=0.1, activity=0.05,
               seed=0, methods=PEER_METHODS):
    """
    Every method on the benchmark network of each size, side by side.

    For each size: one recorded Brian2 run (our exact gradient); each method
    built on it, run once (compiling it) and checked (its forward trace equal
    to Brian2's, `FORWARD_TOLERANCE`; its gradient compared with ours); then
    ``rounds`` interleaved rounds of every method on the whole sequence.
    A method that refuses a size (BrainTrace's exact rule bounds its
    Jacobian) is reported with its reason, not timed.

    Returns
    -------
    costs : list of PeerCost
    """
    _require_peers()
    costs = []
    for n in sizes:
        logger.info(f"peers at n={n}: recording {steps} steps in Brian2 ...")
        record = record_run(n, steps, density, activity, seed)
        timed = []
        for method in methods:
            cost = PeerCost(n, method, record.active_fraction)
            costs.append(cost)
            try:
                peer = _peer(record, method)
                gradient, states = peer.run()
            except Exception as error:  # a peer's refusal is a result, not a failure
                cost.note = f"refused: {textwrap.shorten(str(error), 240)}"
                logger.info(f"  {method}: {cost.note}")
                continue
            if states is not None:
                cost.forward_difference = check_forward(record, states, method)
            cost.cosine, cost.max_error = _compared(gradient, record.gradient)
            cost.memory = peer.memory
            timed.append((cost, peer, []))
        for _ in range(rounds):
            for cost, peer, seconds in timed:
                seconds.append(peer.step_seconds() if peer.step_seconds else
                               _timed(peer.run) / steps)
        for cost, _, seconds in timed:
            if cost.method == "rtrl_brian":  # the learner alone, in the last round
                cost.learner_ms = 1e3 * float(np.mean(
                    record.learner.history["step_seconds"][-steps:]))
            cost.ms_min, cost.ms_median = 1e3 * min(seconds), 1e3 * float(np.median(seconds))
            logger.info(f"  {cost.method}: {cost.ms_median:.3f} ms/step, cosine "
                        f"{cost.cosine:.6f}, memory {cost.memory / 1e6:.2f} MB")
    return costs


def peer_table(costs):
    """The peer study as Markdown lines."""
    lines = ["| n | method | ms/step min / median | median vs rtrl_brian | memory carried "
             "| gradient cosine | max-norm error | forward vs Brian2 |",
             "|---|---|---|---|---|---|---|---|"]
    ours_ms = {cost.n: cost.ms_median for cost in costs if cost.method == "rtrl_brian"}
    for cost in costs:
        if cost.note:
            lines.append(f"| {cost.n} | {cost.method} | {cost.note} | | | | | |")
            continue
        method = cost.method
        if method == "rtrl_brian":
            method += f" (learner alone {cost.learner_ms:.3f} ms)"
        forward = "" if np.isnan(cost.forward_difference) else f"{cost.forward_difference:.1e}"
        lines.append(f"| {cost.n} | {method} | {cost.ms_min:.3f} / {cost.ms_median:.3f} | "
                     f"{cost.ms_median / ours_ms[cost.n]:.2g}x | {cost.memory / 1e6:.3g} MB | "
                     f"{cost.cosine:.6f} | {cost.max_error:.1e} | {forward} |")
    return lines


def run_peers(out_dir="benchmark_results", sizes=(64, 256, 1024), steps=50, rounds=3,
              target="cython"):
    """
    Run `peer_study` (Brian2 on ``target``, the benchmarks' 1 ms step) and
    write ``peers.json`` and ``peers.md`` into ``out_dir``.

    Returns
    -------
    costs : list of PeerCost
    """
    import jax

    from .benchmark import use_benchmark_settings

    _require_peers()
    use_benchmark_settings(target)
    costs = peer_study(sizes, steps, rounds)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "target": target, "jax": jax.__version__,
               "braintrace": _version("braintrace"), "steps": steps, "rounds": rounds}
    (out_dir / "peers.json").write_text(json.dumps(
        {"machine": machine, "peers": [asdict(cost) for cost in costs]}, indent=1))
    header = (f"Python {machine['python']}, Brian2 target {target}, JAX {machine['jax']}, "
              f"BrainTrace {machine['braintrace']}; {steps} steps per round, {rounds} rounds.")
    (out_dir / "peers.md").write_text("\n".join([header, ""] + peer_table(costs)) + "\n")
    return costs


def _version(package):
    from importlib.metadata import version

    return version(package)
