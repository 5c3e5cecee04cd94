"""
`RTRL`: exact online learning as a Brian2 object.

Implements real-time recurrent learning (Williams & Zipser, 1989) on the
discrete map Brian2 executes:

    M_t = J_t M_{t-1} + Mbar_t,        dL/dtheta = sum_t dL_t/ds_t M_t      (1)

with ``M = ds/dtheta`` the influence matrix, applied op by op within a step
(`rtrl_brian.linear`). Spikes are differentiated through a surrogate.
"""

import time

import numpy as np
from brian2 import NetworkOperation, get_device, get_logger, prefs
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

from .codegen import NotCompilable
from .engine import ENGINES
from .errors import UnsupportedConstructError
from .history import StepRecord
from .ir import ThresholdOp, is_spike
from .observer import StepObserver
from .partition import MPIPartition
from .replay import Replayed
from .sparsity import selected_entries
from .standalone import StandaloneLearning
from .targets import available_threads
from .update import ParameterUpdate, non_finite

__all__ = ["RTRL"]

logger = get_logger(__name__)

#: Figures recorded every step in ``learner.history``.
STEP_FIGURES = ("loss", "active_fraction", "multiply_adds", "multiply_adds_dense", "bytes",
                "M_bytes", "engine_seconds", "step_seconds")


def _controller_state(controller):
    """A sparsity controller's attributes, without the Brian2 variable it acts on."""
    return {key: value for key, value in vars(controller).items() if key != "var"}


class RTRL(StepObserver):
    """
    Exact online gradients (and optionally learning) for a Brian2 network.

    Parameters
    ----------
    params : list of VariableView
        Variables to learn: per-synapse (``S.w``) and per-neuron or shared
        parameters (``G.v_th``, ``G.tau``).
    loss : MSE or CrossEntropy
        Read at the end of every step.
    optimizer : SGD or Adam, optional
        None: gradients only accumulate. Otherwise parameters are updated
        online, every ``update_every`` steps, with the gradient accumulated
        since the previous update.
    surrogate : Triangle, optional
        Pseudo-derivative of the spike; default ``Triangle(1.0, 0.3)``.
    detach_reset : bool, optional
        Treat the spike in resets as a constant (as e-prop does).
    engine : {'sparse', 'dense', 'compiled'}, optional
        Influence-matrix engine: ``'sparse'`` (default) touches only existing
        parameters, units inside the surrogate's support and synapses of
        spiking units; ``'dense'`` is the full-Jacobian reference;
        ``'compiled'`` runs the whole step (replay, Jacobians, influence
        matrix) as generated C, one call per step, compiled with Cython
        whatever ``prefs.codegen.target`` Brian2's objects use: much faster
        for small networks, where per-op Python dominates (a surrogate
        with a C form). All give the same gradients.
        Under ``set_device('cpp_standalone')`` the generated step runs inside
        Brian2's binary, with the loss and the optimizer ('sparse' and
        'compiled' alike; see `rtrl_brian.standalone`).
    dtype : {numpy.float64, numpy.float32}, optional
        Storage precision of the influence matrix (default float64).
    update_every : int, optional
        Steps between optimizer updates (default 1: every step).
    sparsity : list of callable, optional
        Parameter-sparsity controllers (`rtrl_brian.sparsity.MagnitudePruning`,
        `rtrl_brian.sparsity.Rewiring`), called as ``controller(learner,
        step)`` after every step.
    clip_grad_norm : float, optional
        Before each update, scale the gradient down to this Euclidean norm
        (over all parameters) if it is longer. The accumulated gradients
        (`gradient`) stay unclipped.
    history_limit : int, optional
        Keep only the latest ``history_limit`` per-step records (8 bytes per
        figure and step otherwise: bound them for very long runs).
    bounds : dict, optional
        Constraints applied after every update (projected gradient descent):
        ``{variable: (low, high)}`` with Quantities in the variable's units or
        plain numbers for unitless ones, None for no bound, e.g.
        ``{G.tau: (1*ms, None), S_exc.w: (0, None)}`` (positive time constants,
        sign constraints for Dale's law).
    threads : int, optional
        Threads for the influence-matrix update and read-out on the runtime
        device: the compiled engine's step and the sparse engine's row
        kernel (Cython target) split the columns among them (OpenMP).
        Default: every core this process may use, at most ``OMP_NUM_THREADS``
        where that is set (Dask's workers: 1). Results are bitwise the
        same for any number. Under cpp_standalone the binary uses
        ``prefs.devices.cpp_standalone.openmp_threads`` instead (leave
        ``threads`` unset).
    partition : {None, 'mpi'}, optional
        ``'mpi'``: the influence matrix's columns divided among the MPI ranks
        of ``mpiexec -n K python script.py`` (`rtrl_brian.partition`): every
        rank simulates the same network (seed it the same), keeps and updates
        the columns of its block of parameters (1/K of the memory and the
        work) and the ranks sum their gradients every step, so that every
        rank's gradients and parameters are those of one process. Give each
        rank its share of the cores with ``threads``. `influence_rows` has
        this rank's columns only.
    name : str, optional
    namespace : dict, optional
        External names for compilation; default: the caller's namespace.

    Notes
    -----
    Call `reset_state` at the start of each trial (it zeroes the influence
    matrix and the trial step), `zero_grad` to clear accumulated gradients.

    NaN or infinity in the network's state, in a step's gradient or in the
    parameters after an update stops the run with a `FloatingPointError`
    naming the step and the variable; the parameters keep their last finite
    values.

    Examples
    --------
    >>> learner = RTRL([S.w], losses.MSE(out.y, target))  # doctest: +SKIP
    >>> run(100*ms)                                        # doctest: +SKIP
    >>> learner.gradient(S.w)                              # doctest: +SKIP
    """

    supports_standalone = True

    def __init__(self, params, loss, optimizer=None, surrogate=None, detach_reset=False,
                 engine="sparse", dtype=np.float64, update_every=1, sparsity=None,
                 clip_grad_norm=None, history_limit=None, bounds=None, threads=None,
                 partition=None, name="rtrl*", namespace=None):
        if engine not in ENGINES:
            raise ValueError(f"Unknown engine '{engine}'; choose one of {sorted(ENGINES)}.")
        if np.dtype(dtype) not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"'dtype' must be numpy.float64 or numpy.float32, got {dtype!r}.")
        if int(update_every) != update_every or update_every < 1:
            raise ValueError(f"'update_every' must be a positive integer, got {update_every!r}.")
        if clip_grad_norm is not None and not (np.isfinite(clip_grad_norm)
                                               and clip_grad_norm > 0):
            raise ValueError(f"'clip_grad_norm' must be a positive number or None, got "
                             f"{clip_grad_norm!r}.")
        if threads is not None:
            _check_threads(threads)
        if partition not in (None, "mpi"):
            raise ValueError(f"'partition' must be None or 'mpi', got {partition!r}.")
        if optimizer is not None and not hasattr(optimizer, "step"):
            raise TypeError(f"'optimizer' must be rtrl_brian.optim.SGD or Adam (or None), "
                            f"got {type(optimizer).__name__}.")
        super().__init__(params, loss, surrogate, detach_reset, name=name,
                         namespace=namespace, level=1)
        self.optimizer = optimizer
        # the learning rate of each parameter (parameter groups of the optimizer); None: one
        # rate, or a duck-typed optimizer
        rates = optimizer.rates([p.label for p in self.ir.params],
                                lambda var: self._param_view(var).label) \
            if hasattr(optimizer, "rates") else None
        #: The parameter update (`rtrl_brian.update.ParameterUpdate`): clipping, the
        #: optimizer's step, bounds, undo on non-finite values.
        self.updater = ParameterUpdate(
            self.name, self.ir.params, rates,
            [(self._param_view(var), limits) for var, limits in (bounds or {}).items()],
            None if clip_grad_norm is None else float(clip_grad_norm))
        self.update_every = int(update_every)
        self.history_limit = history_limit
        self.engine_name = engine
        self._prepared_ops = None
        if partition is not None and self.standalone:
            raise UnsupportedConstructError(f"{self.name}: partition='mpi' runs on the runtime "
                                            f"device; the cpp_standalone binary keeps the "
                                            f"whole influence matrix.")
        #: Where this process's columns are (`rtrl_brian.partition.MPIPartition`), or None.
        self.partition = MPIPartition() if partition == "mpi" else None
        if self.standalone:
            self.engine = None  # the influence matrix lives in the binary
        else:
            self.engine = ENGINES[engine](self.layout, self.ir.n_params, dtype=dtype,
                                          threads=available_threads(threads))
            self._prepare_engine()
        #: Whether the compiled engine may run the learner's whole step, its
        #: bookkeeping included, in its one C call per step (`rtrl_brian.fused`):
        #: where nothing in it needs Python (see `step_fused`). False: the
        #: bookkeeping in Python, as with the other engines. The same results
        #: either way; can be changed between runs. The one C call reads the
        #: loss's data as it was when the run or the trial started: change
        #: targets, labels and masks there (`trials` with ``data`` or a
        #: ``start`` callback, or between runs), not from a `NetworkOperation`
        #: in the middle of a trial (or set this to False).
        self.fuse_step = True
        self._fused = None  # this run's FusedStep
        self._end_seconds = 0.0  # the end hook's time, completed by _on_step_update
        self._step_active = 0  # units active at the last step, as the engine counted them
        self._update_due = False
        self._update_where = ""  # the step an update due belongs to, for messages
        if not self.standalone:
            self.contained_objects.append(NetworkOperation(
                self._on_step_update, when="after_end", order=2 ** 62 + 1,
                name=f"{self.name}_update", clock=self.clock))
        self._grad = np.zeros(self.ir.n_params)
        self._step_grad = np.zeros(self.ir.n_params)  # this step's, reused
        self._pending = np.zeros(self.ir.n_params)
        self._pending_steps = 0
        self._trial_loss = 0.0
        self._learnable = np.ones(self.ir.n_params, dtype=bool)
        self.sparsity = list(sparsity or [])
        #: Per-step figures: ``loss``, ``active_fraction`` (units inside the
        #: surrogate's support or sending an event), ``multiply_adds`` done on
        #: the influence matrix and ``multiply_adds_dense`` (what the dense
        #: engine would do),
        #: ``bytes`` of the influence matrix read or written, ``M_bytes`` held,
        #: ``engine_seconds`` spent updating and reading the influence matrix
        #: (``engine='compiled'``: the whole generated step, replay included),
        #: ``step_seconds`` spent by the learner in all (replay, derivatives,
        #: engine, optimizer), each a `rtrl_brian.history.StepRecord`
        #: (list-like, float64); per trial: ``trial_loss`` (a list).
        self._history = {key: StepRecord(history_limit) for key in STEP_FIGURES}
        self._history["trial_loss"] = []
        #: Under cpp_standalone, ``(seconds, trials)``: the binary prints a line at the end
        #: of a trial (its number of ``trials``, its loss, the time) at most every
        #: ``seconds``; None: it prints nothing.
        self.binary_progress = None
        if self.standalone:
            self._standalone_learning = StandaloneLearning.attach(self, engine, dtype)

    @property
    def history(self):
        """
        Per-step and per-trial figures (see the class notes).

        Under cpp_standalone they are read from the binary's results after
        the run (and are empty before it).
        """
        if self.standalone:
            self._read_standalone()
        elif self._fused is not None:
            self._fused.flush()
        return self._history

    @history.setter
    def history(self, value):
        self._history = value

    # -- cpp_standalone -----------------------------------------------------------------
    def _read_standalone(self):
        """After a standalone run: take the binary's results as this learner's state."""
        results = self._standalone_learning.results()
        if results is None:
            return
        counters = results.counters
        self._step, self._steps_total = counters["step"], counters["steps_total"]
        self._pending_steps = counters["pending_steps"]
        self._trials_started = counters["trials_started"]
        self._trial_loss = results.trial_loss
        self._grad = results.grad
        for key in STEP_FIGURES:
            self._history[key] = StepRecord(self.history_limit)
            for value in results.history[key]:
                self._history[key].append(value)
        self._history["trial_loss"] = results.trial_losses

    def _prepare_engine(self):
        """Hand the engine the current ops (once per compilation of the network)."""
        if self._prepared_ops is self.ops:
            return
        try:
            self.engine.prepare(self.ops, self.surrogate, self.ir.params)
        except NotCompilable as error:
            raise UnsupportedConstructError(
                f"{self.name}: engine='{self.engine_name}' cannot generate the step: {error}. "
                f"Use engine='sparse' (the same gradients, evaluated in Python).") from error
        self._prepared_ops = self.ops
        #: Units the thresholds decide for: what `history`'s ``active_fraction`` divides by.
        self._threshold_units = sum(op.op.group.n for op in self.ops
                                    if isinstance(op.op, ThresholdOp))

    def before_run(self, run_namespace):
        if self.standalone:
            self._standalone_learning.refuse_unsupported(run_namespace)
        super().before_run(run_namespace)
        if self.standalone:
            self._standalone_learning.runs += 1
            # the binary counts the steps; Python follows, for trials() between runs
            network, clock = self.running_network(), self.clock
            self._binary_run_steps = 0 if network is None else \
                clock._i_end - int(round(network.t_ / clock.dt_))
        self._run_steps, self._run_most_active = 0, 0.0
        if self.engine is not None:
            self._prepare_engine()
            if self.partition is not None and not self.partition.divided:
                self.partition.divide(self._learnable)  # this rank's block, from now on
                self.engine.set_active(self._engine_columns())
            fused = self.engine.whole_step(self)  # compiled with the step where it can be,
            self._fused = fused if self.fuse_step else None  # used where asked
            try:
                self.engine.before_run(prefs.codegen.target)
            except ValueError as error:
                raise ValueError(f"{self.name}: {error}") from error

    @property
    def step_fused(self):
        """Whether the learner's whole step runs in one C call in this run (or ran in the
        last one): `fuse_step`, the compiled engine, and nothing that needs Python per
        step (`rtrl_brian.fused.FusedStep.why_not`, logged at debug level)."""
        return self._fused is not None

    def after_run(self):
        super().after_run()
        if self._fused is not None:
            self._fused.flush()
        if self.standalone:
            self._steps_total += self._binary_run_steps
        if self._run_steps and not np.any(self._grad):
            why = ("no unit spiked or came inside the surrogate derivative's support at any "
                   "step: inputs or weights too small to drive the units (are the weights "
                   "set?), or a surrogate narrower than the distance to threshold"
                   if self._run_most_active == 0 else
                   "units were inside the surrogate's support, but no parameter's effect "
                   "reached the loss (weights of zero on the way to it?)")
            logger.warn(f"{self.name}: every gradient is exactly zero after {self._run_steps} "
                        f"steps: {why}.", name_suffix="zero_gradients")

    def _check_network(self):
        super()._check_network()
        if self.optimizer is not None:
            for ref in RTRL.__instances__():
                other = ref()
                if other is None or other is self or other.optimizer is None or \
                        not other.active or getattr(other, "_network", None) != self._network:
                    continue
                shared = [p.label for p in self.ir.params
                          if any(q.owner == p.owner and q.name == p.name for q in other.ir.params)]
                if shared:
                    raise ValueError(
                        f"{self.name} and {other.name} both update '{shared[0]}' with an "
                        f"optimizer in the same network: each would change it behind the "
                        f"other's back, and neither's gradients would be exact. Give one of "
                        f"them optimizer=None, or learn disjoint parameters.")

    def _replay(self, state, inputs):
        """The engine replays the step (it holds what it applies at `_consume`)."""
        replayed = Replayed([], self.engine.step(state, inputs, self._values))
        self._step_active = replayed.units
        return replayed

    def _snapshot(self):
        if self._fused is not None:
            self._fused.snapshot()
        else:
            super()._snapshot()

    def _on_step_end(self):
        started = time.perf_counter()
        if self._fused is not None and self._learning:
            self._fused_step()
        else:
            super()._on_step_end()
        self._end_seconds = time.perf_counter() - started

    def _fused_step(self):
        """The step after Brian2's as one C call (`rtrl_brian.fused`): what
        `_on_step_end` and `_consume` do, counters and trial loss kept here."""
        self._step_now = self._steps_total  # this step's number, for messages
        loss = self._fused.step(self._step, self._steps_total)
        if loss is None:  # the loss's data changed sizes: Python from this step
            self._leave_fused()
            super()._on_step_end()
            return
        self._steps_total += 1
        self._pending_steps += 1
        self._trial_loss += loss
        self._run_steps += 1
        self._update_due = True
        if self.optimizer is not None:
            self._update_where = self._where()
        self._step += 1

    def _leave_fused(self):
        """Bookkeeping in Python from this step of the run on (from the fused step's
        snapshot)."""
        logger.debug(f"{self.name}: the loss's data changed sizes; the bookkeeping runs in "
                     f"Python for the rest of this run", "bookkeeping")
        fused, self._fused = self._fused, None
        fused.flush()
        self._start_state = {block: state.copy() for block, state in fused.state.items()}
        self._start_not_refractory = {name: array.copy() for (name, phase), array
                                      in fused.not_refractory.items() if phase == "previous"}

    def _on_step_update(self):
        """
        Parameter updates and sparsity controllers, after every learner's replay.

        Scheduled after the end hooks of all learners, so that a learner that
        follows a parameter another one updates replays the step with the
        values Brian2 used.
        """
        started = time.perf_counter()
        if self._update_due:
            self._update_due = False
            if self.optimizer is not None and self._pending_steps >= self.update_every:
                self.updater(self.optimizer, self._pending, self._learnable, self._update_where)
                self._pending[:] = 0.0
                self._pending_steps = 0
            for controller in self.sparsity:
                controller(self, self._steps_total)
        self._history["step_seconds"].append(self._end_seconds + time.perf_counter() - started)

    def _replay_agrees(self, replayed, actual):
        return self.engine.replay_agrees(replayed, actual)

    def _consume(self, linearizations, loss, dlosses):
        self.engine.commit()
        step_grad = self._step_grad
        step_grad[:] = 0.0
        for block, dloss in dlosses:
            self.engine.add_loss_gradient(block, dloss, step_grad)
        if self.partition is not None:
            self.partition.combine(step_grad)  # the other ranks' columns
        if not np.all(np.isfinite(step_grad)):
            raise non_finite(self.name, self.ir.params, "the gradient of", step_grad,
                             "before it was used", self._where())
        self._grad += step_grad
        self._pending += step_grad
        self._pending_steps += 1
        self._trial_loss += loss
        self.history["loss"].append(loss)
        active_fraction = (self._step_active / self._threshold_units
                           if self._threshold_units else 0.0)
        self.history["active_fraction"].append(active_fraction)
        self._run_steps += 1
        self._run_most_active = max(self._run_most_active, active_fraction)
        self.history["M_bytes"].append(self.engine.nbytes)
        for key, count in self.engine.take_operations().items():
            self.history[key].append(count)
        self._update_due = True  # in _on_step_update, after every learner's replay
        self._update_where = self._where()  # this step, for messages there

    @property
    def threads(self):
        """
        Threads of the influence-matrix update on the runtime device (see the
        class parameters; None under cpp_standalone). Can be changed between
        runs; results are bitwise the same for any number.
        """
        return None if self.engine is None else self.engine.threads

    @threads.setter
    def threads(self, threads):
        _check_threads(threads)
        self.engine.threads = int(threads)

    @property
    def clip_grad_norm(self):
        """The norm each update's gradient is scaled down to (None: not clipped)."""
        return self.updater.clip_grad_norm

    # -- parameter sparsity -----------------------------------------------------------
    def _selection(self, var, which):
        if self.standalone and self._standalone_learning.runs:
            raise UnsupportedConstructError(f"{self.name}: under cpp_standalone, prune or "
                                            f"regrow before the first run only (the binary "
                                            f"fixes the influence matrix's columns when it "
                                            f"is built).")
        param = self._param_view(var)
        return param, selected_entries(self.name, param, which)

    def _set_values(self, param, selected, value):
        """Entries ``selected`` of a parameter set to ``value`` (base units)."""
        if self.standalone:  # Brian2 writes them into the binary (indices as a list: a
            # numpy array trips brian2's standalone indexing)
            param.owner.state(param.name, use_units=False)[
                np.arange(param.size)[selected].tolist()] = value
        else:
            param.values()[selected] = value

    @property
    def learnable_entries(self):
        """Whether each parameter entry (all parameters, in order) has a column of the
        influence matrix: False where pruned. A copy."""
        return self._learnable.copy()

    def pruned(self, var):
        """
        Which entries of ``var`` are pruned (fixed at zero, without a column).

        Returns
        -------
        mask : ndarray of bool
            In the order of ``var[:]``.
        """
        param = self._param_view(var)
        return ~self._learnable[param.span]

    def prune(self, var, which):
        """
        Fix entries of ``var`` at zero and drop their influence-matrix columns.

        A pruned synapse is a parameter held at zero: the network runs with
        ``w = 0`` there, gradients of every other parameter stay exact, and its
        own gradient is no longer computed (reported as 0). The influence
        matrix shrinks by one column per pruned entry.

        Parameters
        ----------
        var : VariableView
            One of the learner's parameters, e.g. ``S.w``.
        which : array of bool or int
            A mask over ``var[:]`` or indices into it.
        """
        param, selected = self._selection(var, which)
        self._set_values(param, selected, 0.0)
        self._set_active(param, selected, False)

    def regrow(self, var, which, value=0.0):
        """
        Make pruned entries of ``var`` parameters again, starting at ``value``.

        A regrown entry gets a fresh column of zero influence: its gradient is
        that of a parameter introduced now, so it misses the influence the
        entry had on the state before (when it was held at zero); that part
        fades as the network forgets its past. Other gradients stay exact.

        Parameters
        ----------
        var : VariableView
        which : array of bool or int
        value : float or array, optional
            Initial value of the regrown entries.
        """
        param, selected = self._selection(var, which)
        self._set_values(param, selected, value)
        self._set_active(param, selected, True)

    def _set_active(self, param, selected, active):
        self._learnable[param.span][selected] = active
        self._grad[param.span][selected] = 0.0
        self._pending[param.span][selected] = 0.0
        if self._fused is not None:
            self._fused.flush()  # the steps so far, with the matrix's size then
        if self.engine is not None:  # the binary's columns: StandaloneLearning
            self.engine.set_active(self._engine_columns())
        if self.optimizer is not None:
            self.optimizer.forget(self.ir.params.index(param), selected)

    def _engine_columns(self):
        """The parameters whose columns this process keeps: the learnable ones (of this
        rank's block, once the partition has fixed it at the first run)."""
        if self.partition is None or not self.partition.divided:
            return self._learnable
        return self.partition.mine(self._learnable)

    # -- saved state (Brian2's store/restore) ----------------------------------------
    def _fingerprint(self):
        fingerprint = super()._fingerprint()
        fingerprint.update(engine=self.engine_name, dtype=str(self.engine.dtype),
                           partition=None if self.partition is None
                           else [self.partition.rank, self.partition.size],
                           optimizer=type(self.optimizer).__name__,
                           sparsity=[type(c).__name__ for c in self.sparsity])
        return fingerprint

    def _learning_state(self):
        return {"engine": self.engine.state(), "grad": self._grad, "pending": self._pending,
                "pending_steps": self._pending_steps, "trial_loss": self._trial_loss,
                "learnable": self._learnable, "history": self.history,
                "optimizer": None if self.optimizer is None else vars(self.optimizer),
                "sparsity": [_controller_state(c) for c in self.sparsity]}

    def _load_learning_state(self, state):
        self.engine.load_state(state["engine"])
        self._grad, self._pending = state["grad"], state["pending"]
        self._pending_steps, self._trial_loss = state["pending_steps"], state["trial_loss"]
        self._learnable, self.history = state["learnable"], state["history"]
        if self.optimizer is not None:
            vars(self.optimizer).update(state["optimizer"])
        for controller, saved in zip(self.sparsity, state["sparsity"]):
            vars(controller).update(saved)

    @property
    def trial_loss(self):
        """The loss summed over the current trial so far (since `reset_state`)."""
        if self.standalone:
            self._read_standalone()
        return self._trial_loss

    def influence_rows(self, block=None):
        """
        A copy of the influence matrix's rows of one state variable: how its
        value in each unit depends on each parameter now.

        Parameters
        ----------
        block : tuple, optional
            ``(group name, variable)``; default: the state variable with the
            most non-zero influences among the groups the loss does not read
            (the recurrent units, typically).

        Returns
        -------
        block : tuple
        rows : ndarray
            ``(units, parameters)``, columns in the order of the learner's
            parameters.
        """
        if self.engine is None:
            raise UnsupportedConstructError(f"{self.name}: under cpp_standalone the influence "
                                            f"matrix stays in the binary (its gradients and "
                                            f"history are read back).")
        if block is None:
            states = [b for b in self.layout.blocks if not is_spike(b[1])]
            candidates = [b for b in states if b[0] != self.loss.group.name] or states
            block = max(candidates, key=lambda b: np.count_nonzero(self.engine.influence(b)))
        return block, np.array(self.engine.influence(block))

    def gradient(self, var, units=False):
        """
        Gradient accumulated since the last `zero_grad`.

        Parameters
        ----------
        var : VariableView
            One of ``params``.
        units : bool, optional
            Return a Brian2 `Quantity` (loss units per unit of ``var``).

        Returns
        -------
        grad : ndarray or Quantity
            float64, in the order of ``var[:]``, in SI base units: loss units
            per base unit of ``var`` (e.g. per volt for a weight in mV).
        """
        param = self._param_view(var)
        if self.standalone:
            self._read_standalone()
        grad = self._grad[param.span].copy()
        return self._with_units(param, grad) if units else grad

    def zero_grad(self):
        """Clear the accumulated gradients."""
        self._grad[:] = 0.0
        if self.standalone:  # before the next run, in the binary
            self._standalone_learning.variables["grad"].set_value(0.0)

    def reset_state(self):
        """
        Start a trial: zero the influence matrix, restart trial time.

        The trial's summed loss goes to ``history['trial_loss']``.
        """
        if self.standalone:  # at the first step of the next run, in the binary
            self._standalone_learning.reset_pending = True
            super().reset_state()
            return
        if self._step:
            self._history["trial_loss"].append(self._trial_loss)
        self._trial_loss = 0.0
        self.engine.reset()
        if self._fused is not None:
            self._fused.unbind()  # the loss's data of the new trial
        super().reset_state()


def _check_threads(threads):
    """Refuse a thread count that is not a positive integer, or any under cpp_standalone."""
    if not (isinstance(threads, (int, np.integer)) and not isinstance(threads, bool)
            and threads >= 1):
        raise ValueError(f"'threads' must be a positive integer or None, got {threads!r}.")
    if isinstance(get_device(), CPPStandaloneDevice):
        raise ValueError("Under cpp_standalone the binary's threads are "
                         "prefs.devices.cpp_standalone.openmp_threads; leave 'threads' unset.")
