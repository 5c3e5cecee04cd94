"""
Studies: a grid of runs on Dask, each run's record written as soon as it ends.

A study names the function that makes one run and the keyword arguments of
every run: a grid (every combination of the swept values, plus fixed ones) or
an explicit list. In a file (TOML; YAML where PyYAML is installed)::

    function = "rtrl_brian.apps.experiments:train_spiral"
    out = "spiral_runs"

    [grid]
    sparsity = [0.0, 0.5, 0.9]
    seed = [0, 1, 2, 3, 4]

    [fixed]
    model = "egru"
    units = 16
    sequences = 1500

`sweep` skips the runs whose record is already in ``out/runs`` (a study
interrupted, or extended, goes on where it stopped), runs the others on a
``dask.distributed`` cluster (an embedded ``LocalCluster``, one single-threaded
worker per core, by default; any cluster by its scheduler's address, e.g. one
started by dask-jobqueue on SLURM or PBS) and writes each record on this side
as its run ends (``out/runs/NAME.json.gz``, written to a temporary file and
renamed, so that no half-written record is ever taken for a finished one). A
worker that dies takes no finished record with it: the scheduler runs its
unfinished runs again on the other workers (up to Dask's
``distributed.scheduler.allowed-failures`` times). Runs on workers use this
process's Brian2 code-generation target and Cython cache
(`BRIAN_SETTINGS`); Dask gives each worker one thread (``OMP_NUM_THREADS=1``,
which the learners follow). Without Dask installed (the ``distributed`` extra),
or with ``workers=0``, the runs go one after the other in this process.
"""

import dataclasses
import gzip
import importlib
import itertools
import json
import os
import pathlib
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field

import numpy as np
from brian2 import get_logger

__all__ = ["Study", "SweepResult", "sweep", "read_record", "write_record"]

logger = get_logger(__name__)

#: The optional dependency a cluster needs.
DISTRIBUTED_EXTRA = "pip install 'rtrl_brian[distributed]'"

#: Brian2 preferences a run on a worker takes from the process that submits it.
BRIAN_SETTINGS = ("codegen.target", "codegen.runtime.cython.cache_dir")


@dataclass
class Study:
    """
    The runs of a study and where their records go.

    Parameters
    ----------
    function : str or callable
        ``"module:name"`` of the function that makes one run (importable on
        every worker), or the function itself (sent to the workers by value
        where its module is not importable there): called with a run's
        keyword arguments, it returns a dataclass (e.g.
        `rtrl_brian.apps.training.TrainingRun`) or a dict of JSON-able values
        (numpy arrays and numbers allowed).
    runs : dict
        Run name to its keyword arguments, in the order to submit them.
    out : pathlib.Path
        Folder of the study (records in ``out/runs``).
    """

    function: str
    runs: dict
    out: pathlib.Path = field(default_factory=lambda: pathlib.Path("study"))

    def __post_init__(self):
        self.out = pathlib.Path(self.out)
        _function(self.function)  # a clear error now, not on a worker

    @classmethod
    def grid(cls, function, grid, fixed=None, out="study"):
        """
        Every combination of ``grid``'s values (a dict of lists), each with
        ``fixed``; runs are named after their swept values
        (``sparsity=0.5_seed=3``).
        """
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or \
                    len(values) == 0:
                raise ValueError(f"Study grid: '{name}' must list at least one value, got "
                                 f"{values!r}.")
        overlap = sorted(set(grid) & set(fixed or {}))
        if overlap:
            raise ValueError(f"Study: {', '.join(overlap)} both swept and fixed.")
        runs = {}
        for values in itertools.product(*grid.values()):
            swept = dict(zip(grid, values))
            runs[run_name(swept)] = {**(fixed or {}), **swept}
        return cls(function, runs, out)

    @classmethod
    def from_file(cls, path, out=None):
        """
        A study file: TOML (``.toml``) or YAML (``.yaml``/``.yml``, needs
        PyYAML) with ``function``, ``grid``, optionally ``fixed`` and ``out``
        (default: the file's name without suffix, beside it; ``out`` here
        overrides it). The file's folder joins ``sys.path`` (here, and on the
        workers of an embedded cluster), so that ``function`` may live in a
        module beside it.
        """
        path = pathlib.Path(path)
        text = path.read_text()
        if str(path.parent.resolve()) not in sys.path:
            sys.path.insert(0, str(path.parent.resolve()))
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as error:
                raise ImportError(f"Reading {path} needs PyYAML (pip install pyyaml, or "
                                  f"{DISTRIBUTED_EXTRA}); or write the study as TOML.") from error
            spec = yaml.safe_load(text)
        elif path.suffix == ".toml":
            spec = tomllib.loads(text)
        else:
            raise ValueError(f"{path}: a study file is .toml, .yaml or .yml.")
        unknown = sorted(set(spec) - {"function", "grid", "fixed", "out"})
        missing = sorted({"function", "grid"} - set(spec))
        if unknown or missing:
            raise ValueError(f"{path}: " + "; ".join(
                [f"unknown key(s) {', '.join(unknown)}"] * bool(unknown) +
                [f"missing {', '.join(missing)}"] * bool(missing)) +
                " (a study has function, grid, and optionally fixed and out).")
        folder = out or path.parent / spec.get("out", path.stem)
        return cls.grid(spec["function"], spec["grid"], spec.get("fixed"), folder)

    def record_path(self, name):
        """Where the record of run ``name`` goes."""
        return self.out / "runs" / f"{name}.json.gz"

    def finished(self):
        """Names of the runs whose record exists."""
        return [name for name in self.runs if self.record_path(name).exists()]

    def records(self):
        """Run name to record, for every finished run (in the study's order)."""
        return {name: read_record(self.record_path(name)) for name in self.finished()}

    def table(self, records=None):
        """
        The finished runs as a Markdown table: one row per run, its keyword
        arguments that differ between runs, then every number, string or bool
        its record holds (lists, e.g. per-trial losses, are left out).
        """
        records = self.records() if records is None else records
        runs = self.runs.values()
        swept = [key for key in dict.fromkeys(key for run in runs for key in run)
                 if len({repr(run.get(key)) for run in runs}) > 1]
        scalar = (int, float, str, bool, type(None))
        results = [key for key in dict.fromkeys(key for r in records.values() for key in r)
                   if key not in swept
                   and all(isinstance(r.get(key), scalar) for r in records.values())]
        lines = ["| run | " + " | ".join(swept + results) + " |",
                 "|---" * (1 + len(swept) + len(results)) + "|"]
        for name, record in records.items():
            cells = [self.runs[name].get(key) for key in swept] + [record.get(key)
                                                                   for key in results]
            lines.append(f"| {name} | " + " | ".join(_cell(value) for value in cells) + " |")
        return "\n".join(lines) + "\n"


@dataclass
class SweepResult:
    """
    What a sweep ended with.

    Attributes
    ----------
    records : dict
        Run name to record, every finished run (those of earlier sweeps too).
    ran : list of str
        The runs this sweep made.
    failed : dict
        Run name to the error (its type and message) of runs that raised.
    dashboard : str or None
        The Dask dashboard's address (None: no cluster).
    """

    records: dict
    ran: list
    failed: dict
    dashboard: str = None


def run_name(values):
    """A file name from swept values: ``key=value`` joined by ``_``, numbers short."""
    def text(value):
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)
    name = "_".join(f"{key}={text(value)}" for key, value in values.items())
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", name) or "run"


def sweep(study, scheduler=None, workers=None, progress=True, on_record=None):
    """
    Make the study's unfinished runs and write their records.

    Parameters
    ----------
    study : Study
    scheduler : str or distributed.Client, optional
        A running cluster: its scheduler's address (``tcp://host:8786``) or a
        Client. Default: an embedded LocalCluster.
    workers : int, optional
        Workers of the embedded LocalCluster (default: every core this
        process may use; one thread each). 0: no cluster, the runs one after
        the other in this process (also what happens when Dask is not
        installed and neither ``scheduler`` nor ``workers`` is given).
    progress : bool, optional
        A tqdm bar over the runs.
    on_record : callable, optional
        ``on_record(name, record)`` after each record is written (on this
        side, as runs end).

    Returns
    -------
    result : SweepResult

    Raises
    ------
    ImportError
        A cluster asked for (``scheduler``, or ``workers`` > 0) without Dask
        (the ``distributed`` extra).
    """
    todo = [name for name in study.runs if not study.record_path(name).exists()]
    done = len(study.runs) - len(todo)
    logger.info(f"study {study.out}: {len(study.runs)} runs, {done} finished before, "
                f"{len(todo)} to run", "start")
    (study.out / "runs").mkdir(parents=True, exist_ok=True)
    failed = {}
    if not todo:
        return SweepResult(study.records(), [], failed)
    client, owned, dashboard = _client(scheduler, workers)
    bar = _bar(len(todo), progress)

    def finished(name, record):
        write_record(study.record_path(name), record)
        bar.update(1)
        if on_record is not None:
            on_record(name, record)

    def refused(name, error):
        failed[name] = error
        bar.update(1)
        logger.warn(f"study {study.out}: run '{name}' failed: {error}", "run_failed")

    try:
        if client is None:
            for name in todo:
                try:
                    record = _run(study.function, study.runs[name])
                except Exception as error:  # one run's error does not stop the study
                    refused(name, f"{type(error).__name__}: {error}")
                    continue
                finished(name, record)
        else:
            _on_cluster(client, study, todo, finished, refused)
    finally:
        bar.close()
        if owned:
            cluster = client.cluster
            client.close()
            cluster.close()
    ran = [name for name in todo if name not in failed]
    return SweepResult(study.records(), ran, failed, dashboard)


def _on_cluster(client, study, todo, finished, refused):
    """Submit the runs to ``client`` and take each record as its run ends."""
    from brian2 import prefs
    from distributed import as_completed

    settings = {key: prefs[key] for key in BRIAN_SETTINGS}
    futures = {client.submit(_run, study.function, study.runs[name], settings, pure=False,
                             key=f"rtrl-run-{name}-{os.getpid()}-{time.monotonic_ns()}"): name
               for name in todo}
    for future in as_completed(futures):
        name = futures[future]
        if future.status == "error":
            error = future.exception()
            refused(name, f"{type(error).__name__}: {error}")
        else:
            finished(name, future.result())
        future.release()


def _client(scheduler, workers):
    """``(client, whether this sweep owns its cluster, dashboard address)``; no client
    for in-process runs."""
    if workers == 0 and scheduler is None:
        return None, False, None
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        if scheduler is None and workers is None:
            logger.info(f"Dask is not installed: the runs go one after the other in this "
                        f"process ({DISTRIBUTED_EXTRA} for a cluster)", "no_dask")
            return None, False, None
        raise ImportError(f"A cluster needs Dask: {DISTRIBUTED_EXTRA}.") from error
    if scheduler is not None:
        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        owned = False
    else:
        from ..targets import available_cores
        cluster = LocalCluster(n_workers=workers or available_cores(), threads_per_worker=1,
                               processes=True, dashboard_address=":0")
        client, owned = Client(cluster), True
    dashboard = client.dashboard_link
    logger.info(f"Dask dashboard: {dashboard}", "dashboard")
    return client, owned, dashboard


def _bar(total, progress):
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="run", desc="study", disable=not progress)


def _function(reference):
    """The function ``"module:name"`` refers to (a function: itself)."""
    if callable(reference):
        return reference
    module, _, name = str(reference).partition(":")
    if not name:
        raise ValueError(f"Study function {reference!r}: write it as 'module:name', e.g. "
                         f"'rtrl_brian.apps.experiments:train_spiral'.")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"Study function {reference!r} cannot be imported: {error}") from error


def _run(function, kwargs, settings=None):
    """One run (on a worker: with Brian2's preferences ``settings``), its result as a
    JSON-able record."""
    if settings:
        from brian2 import prefs
        for key, value in settings.items():
            prefs[key] = value
    result = _function(function)(**kwargs)
    if dataclasses.is_dataclass(result):
        result = dataclasses.asdict(result)
    if not isinstance(result, dict):
        raise TypeError(f"A study's function returns a dataclass or a dict, got "
                        f"{type(result).__name__}.")
    return {key: _plain(value) for key, value in result.items()}


def _cell(value):
    """A table cell: numbers with six significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _plain(value):
    """numpy values as Python ones, recursively (JSON-able)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def write_record(path, record):
    """
    Write a record (gzipped JSON; lists of floats rounded to six significant
    digits) to a temporary file first, then rename it into place.
    """
    path = pathlib.Path(path)
    rounded = {key: [float(f"{item:.6g}") if isinstance(item, float) else item
                     for item in value] if isinstance(value, list) else value
               for key, value in record.items()}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with gzip.open(partial, "wt") as stream:
        json.dump(rounded, stream)
    os.replace(partial, path)


def read_record(path):
    """A record `write_record` wrote."""
    with gzip.open(path, "rt") as stream:
        return json.load(stream)
