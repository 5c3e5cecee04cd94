"""
``rtrl-brian`` command line: a thin layer over the Python API.

Each command imports what it needs when it runs, so that ``--help`` and
argument errors answer at once instead of after Brian2's import. The library's
progress lines (Brian2's logger, INFO) are printed as plain lines on stdout;
warnings and errors keep Brian2's console format on stderr.
"""

import argparse
import contextlib
import logging
import sys
import textwrap

from .catalog import MODEL_SUMMARIES, TASK_SETTINGS, TASK_SUMMARIES
from ..surrogates import SURROGATES

#: The engines the commands offer ('auto': the fastest here, see `fastest_engine`).
ENGINE_CHOICES = ["auto", "compiled", "sparse", "dense"]

__all__ = ["main"]


def _checked(kind, accept, requirement):
    """An argparse type: ``kind(text)``, refused unless ``accept(value)``."""
    def parse(text):
        value = kind(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must {requirement}, got {text}")
        return value
    return parse


def _positive(kind):
    return _checked(kind, lambda value: value > 0, "be positive")


_non_negative = _checked(int, lambda value: value >= 0, "be at least 0")
_fraction = _checked(float, lambda value: 0.0 <= value < 1.0, "lie in [0, 1)")
_share = _checked(float, lambda value: 0.0 <= value <= 1.0, "lie in [0, 1]")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (where it has one)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, argparse.SUPPRESS, False) and "%(default)" not in text \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _command(commands, name, summary, description=None, epilog=None):
    return commands.add_parser(name, help=summary,
                               description=textwrap.fill(description or summary, 79),
                               epilog=epilog, formatter_class=_HelpFormatter)


def build_parser():
    parser = argparse.ArgumentParser(prog="rtrl-brian",
                                     description="Exact online learning (RTRL) for Brian2.",
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show Python's traceback instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = _command(commands, "demo", "train a recurrent LIF network online on pattern "
                                      "generation and write plots")
    demo.add_argument("--out", default="rtrl_demo", help="output folder")
    demo.add_argument("--trials", type=_positive(int), default=200, help="training trials")
    demo.add_argument("--neurons", type=_positive(int), default=100, help="recurrent units")
    demo.add_argument("--steps", type=_positive(int), default=200,
                      help="time steps (ms) per trial")
    demo.add_argument("--seed", type=int, default=0, help="seed of the network and the task")
    demo.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                      help="RTRL engine (auto: compiled where Cython works, else sparse)")
    demo.add_argument("--model", choices=["lif", "alif"], default="lif",
                      help="recurrent units: LIF, or LIF with adaptive thresholds")
    _add_train(commands)
    check = _command(commands, "check", "compare RTRL with BPTT on the network a Python "
                                        "script builds")
    check.add_argument("script", help="a Python file that defines 'params' (list of variables to "
                                      "learn) and 'loss' (rtrl_brian.losses.MSE or "
                                      "CrossEntropy); optionally 'duration' (default 50 ms), "
                                      "'surrogate', 'detach_reset', 'network'")
    check.add_argument("--engine", choices=["sparse", "dense", "compiled"], default="sparse",
                       help="the RTRL engine compared with BPTT")
    check.add_argument("--tolerance", type=_positive(float), default=1e-9,
                       help="largest relative error accepted")
    bench = _command(commands, "bench", "benchmark the engines (sparse vs dense, RTRL vs "
                                        "BPTT, roofline) and write a report")
    bench.add_argument("--out", default="benchmark_results", help="output folder")
    bench.add_argument("--sizes", type=_positive(int), nargs="+",
                       default=[64, 128, 256, 512, 1024],
                       help="network sizes of the scaling study")
    bench.add_argument("--sparsity-n", type=_positive(int), default=256,
                       help="network size of the side-by-side sparsity study")
    bench.add_argument("--lengths", type=_positive(int), nargs="+", default=[100, 200, 400, 800],
                       help="sequence lengths of the RTRL-vs-BPTT study")
    bench.add_argument("--steps", type=_positive(int), default=20,
                       help="measured steps per configuration")
    bench.add_argument("--target", choices=["cython", "numpy"], default="cython",
                       help="Brian2 code-generation target")
    bench.add_argument("--target-sizes", type=_positive(int), nargs="*", default=[256, 1024],
                       help="sizes at which numpy and cython kernels are compared (cython "
                            "target only; none: skip)")
    bench.add_argument("--compiled-sizes", type=_positive(int), nargs="*", default=[16, 64, 256],
                       help="sizes at which the sparse and the compiled engine are compared "
                            "(cython target only; none: skip)")
    bench.add_argument("--standalone-sizes", type=_positive(int), nargs="*", default=[64, 256],
                       help="sizes at which the learner runs under numpy, cython and "
                            "cpp_standalone (cython target only; none: skip)")
    bench.add_argument("--thread-sizes", type=_positive(int), nargs="*", default=[256, 1024],
                       help="sizes at which the compiled and the sparse engine run on 1 to "
                            "every core: speed-up and serial fraction (cython target only; "
                            "none: skip)")
    bench.add_argument("--peers", action="store_true",
                       help="instead: our learner beside BrainTrace's online rules and a JAX "
                            "BPTT on the same network (needs the 'peers' extra, Python >= "
                            "3.12); writes peers.md and peers.json")
    bench.add_argument("--peer-sizes", type=_positive(int), nargs="+", default=[64, 256, 1024],
                       help="network sizes of the peer comparison")
    bench.add_argument("--peer-steps", type=_positive(int), default=50,
                       help="steps per round of the peer comparison")
    bench.add_argument("--rounds", type=_positive(int), default=3,
                       help="interleaved timing rounds of the peer comparison")
    sweep = _command(commands, "sweep", "run a study (a grid of runs from a TOML or YAML file) "
                                        "on Dask, writing each run's record as it ends",
                     epilog="a study file:\n"
                            "  function = \"rtrl_brian.apps.experiments:train_spiral\"\n"
                            "  out = \"spiral_runs\"\n"
                            "  [grid]\n  sparsity = [0.0, 0.5, 0.9]\n  seed = [0, 1, 2]\n"
                            "  [fixed]\n  model = \"egru\"\n  sequences = 1500\n\n"
                            "runs already recorded are skipped; see rtrl_brian.apps.sweep")
    sweep.add_argument("study", help="the study file (.toml; .yaml with PyYAML)")
    sweep.add_argument("--out", default=None,
                       help="the study's folder (default: the file's 'out', else its name)")
    sweep.add_argument("--scheduler", default=None,
                       help="a running Dask cluster's scheduler address (tcp://host:8786; "
                            "dask-jobqueue for SLURM or PBS); default: an embedded "
                            "LocalCluster")
    sweep.add_argument("--workers", type=_non_negative, default=None,
                       help="workers of the embedded cluster (default: one per core; 0: the "
                            "runs one after the other in this process)")
    return parser


def _add_train(commands):
    def listing(entries):
        return "\n".join(textwrap.fill(text, 79, initial_indent=f"  {name:<11} ",
                                        subsequent_indent=" " * 14)
                         for name, text in entries.items())

    settings = {task: ", ".join(f"{key}={value}" for key, value in values.items())
                for task, values in TASK_SETTINGS.items()}
    train = _command(
        commands, "train", "train a network online on a built-in task; write metrics and a "
                           "dashboard",
        description="Train a network online with exact RTRL on a built-in task and write "
                    "metrics.csv, summary.json and a dashboard. Options left out take the "
                    "task's settings (listed below).",
        epilog=f"tasks:\n{listing(TASK_SUMMARIES)}\n\nmodels:\n{listing(MODEL_SUMMARIES)}"
               f"\n\neach task's settings:\n{listing(settings)}")
    train.add_argument("task", choices=sorted(TASK_SUMMARIES), help="the task (listed below)")
    train.add_argument("--model", choices=sorted(MODEL_SUMMARIES),
                       help="recurrent units (listed below; default: the task's)")
    train.add_argument("--neurons", type=_positive(int),
                       help="recurrent units (default: the task's)")
    train.add_argument("--sparsity", type=_fraction,
                       help="fraction of recurrent synapses pruned, a static random mask "
                            "(default: the task's)")
    train.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                       help="RTRL engine; compiled: the whole step as generated C, compiled "
                            "with Cython; auto: compiled where Cython works, else sparse")
    train.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"],
                       default="numpy", help="Brian2 code-generation target of Brian2's own "
                                             "objects (cython: compiled on the first run, "
                                             "about a minute on a cold cache, then faster "
                                             "per step); cpp_standalone: everything, "
                                             "training and held-out trials, in one build "
                                             "of a C++ binary (OUT/standalone), the fastest "
                                             "for long runs")
    train.add_argument("--trials", type=_positive(int),
                       help="training trials (default: the task's)")
    train.add_argument("--test-trials", type=_non_negative,
                       help="held-out trials scored after training (default: the task's)")
    train.add_argument("--lr", type=_positive(float),
                       help="Adam learning rate (default: the task's)")
    train.add_argument("--update-every", type=_positive(int),
                       help="time steps per parameter update (default: the task's)")
    train.add_argument("--surrogate", choices=list(SURROGATES), default="triangle",
                       help="shape of the spike's pseudo-derivative, at the model's width and "
                            "gain; only triangle and rectangular leave units outside their "
                            "support (activity sparsity)")
    train.add_argument("--adaptive-fraction", type=_share,
                       help="ALIF: fraction of units that adapt (default: the task's)")
    train.add_argument("--seed", type=int, default=0, help="seed of the network and the task")
    train.add_argument("--out", default=None, help="output folder (default: train_TASK)")


def _train(args):
    import pathlib

    from brian2 import prefs

    from .training import fastest_engine

    settings = dict(TASK_SETTINGS[args.task])
    for key in ("model", "neurons", "sparsity", "trials", "test_trials", "lr", "update_every",
                "adaptive_fraction"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    engine = fastest_engine() if args.engine == "auto" else args.engine
    settings.update(task=args.task, engine=engine, target=args.target, seed=args.seed,
                    surrogate=args.surrogate)
    out = args.out or f"train_{args.task}"
    if args.target == "cpp_standalone":  # training and held-out trials in one build
        with _standalone_device(pathlib.Path(out) / "standalone"):
            _train_and_report(args, settings, out)
    else:
        prefs.codegen.target = args.target
        _train_and_report(args, settings, out)


@contextlib.contextmanager
def _standalone_device(directory):
    """Brian2's cpp_standalone device building into ``directory`` (when asked to), on
    every core (OpenMP), then the runtime device again."""
    from brian2 import device, prefs, set_device

    from ..targets import available_threads

    threads = prefs.devices.cpp_standalone.openmp_threads
    prefs.devices.cpp_standalone.openmp_threads = available_threads()
    set_device("cpp_standalone", directory=str(directory), build_on_run=False,
               with_output=True)
    try:
        yield
    finally:
        prefs.devices.cpp_standalone.openmp_threads = threads
        device.reinit()
        set_device("runtime")
        device.reinit()
        device.activate()


def _train_and_report(args, settings, out):
    from .report import write_training_report
    from .tasks import TASKS
    from .training import Training

    print("rtrl-brian train: " + ", ".join(f"{k}={v}" for k, v in settings.items()), flush=True)
    training = Training(TASKS[args.task](seed=args.seed), settings["model"], settings["neurons"],
                        trials=settings["trials"], test_trials=settings["test_trials"],
                        sparsity=settings["sparsity"], engine=settings["engine"], seed=args.seed,
                        lr=settings["lr"], update_every=settings["update_every"],
                        adaptive_fraction=settings.get("adaptive_fraction", 1.0),
                        surrogate=args.surrogate)
    record = training.run(bars=sys.stderr.isatty())
    print(f"writing metrics and the dashboard to {out}/ ...", flush=True)
    paths = write_training_report(training, record, out, settings)
    print("wrote " + ", ".join(str(path) for path in paths))


def _check(args):
    from ..check import check_script

    result = check_script(args.script, engine=args.engine)
    print(result)
    verdict = "OK" if result.max_error <= args.tolerance else "FAILED"
    print(f"largest relative error {result.max_error:.3e} (tolerance {args.tolerance:g}): "
          f"{verdict}")
    return 0 if verdict == "OK" else 1


#: What a user's own input can raise, shown as one line and exit status 2 instead of a
#: traceback (``--traceback`` shows it). Anything the script given to ``check`` raises,
#: or its network, counts too.
USER_ERRORS = (OSError, ValueError, KeyError, TypeError, NotImplementedError, ImportError)


def _user_error(error):
    """The first line of what went wrong, unwrapped from Brian2's error about the object
    (which names where the object was created, not what went wrong)."""
    while error.__cause__ is not None and type(error).__name__ == "BrianObjectException":
        error = error.__cause__
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"


def _run(args):
    if args.command == "train":
        _train(args)
    elif args.command == "check":
        return _check(args)
    elif args.command == "demo":
        from .demo import run_demo
        run_demo(args.out, trials=args.trials, n_rec=args.neurons, steps=args.steps,
                 seed=args.seed, neuron_model=args.model, bars=sys.stderr.isatty(),
                 engine=args.engine)
    elif args.command == "sweep":
        return _sweep(args)
    elif args.command == "bench" and args.peers:
        from .peers import run_peers
        run_peers(args.out, sizes=tuple(args.peer_sizes), steps=args.peer_steps,
                  rounds=args.rounds, target=args.target)
        print(f"report: {args.out}/peers.md")
    elif args.command == "bench":
        from .benchmark import run_benchmarks
        run_benchmarks(args.out, sizes=tuple(args.sizes), sparsity_n=args.sparsity_n,
                       lengths=tuple(args.lengths), steps=args.steps, target=args.target,
                       target_sizes=tuple(args.target_sizes),
                       compiled_sizes=tuple(args.compiled_sizes),
                       standalone_sizes=tuple(args.standalone_sizes),
                       thread_sizes=tuple(args.thread_sizes))
        print(f"report: {args.out}/results.md, figure: {args.out}/benchmarks.png")
    return 0


def _sweep(args):
    from .sweep import Study, sweep
    study = Study.from_file(args.study, out=args.out)
    result = sweep(study, scheduler=args.scheduler, workers=args.workers,
                   progress=sys.stderr.isatty())
    (study.out / "study.md").write_text(study.table(result.records))
    print(f"{len(result.ran)} run(s) made now; {len(result.records)} of {len(study.runs)} "
          f"recorded in {study.out / 'runs'}; table: {study.out / 'study.md'}")
    for name, error in result.failed.items():
        print(f"failed: {name}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


class _BelowWarnings(logging.Filter):
    def filter(self, record):
        return record.levelno < logging.WARNING


@contextlib.contextmanager
def _progress_on_stdout():
    """
    While a command runs: the library's INFO lines as plain lines on stdout, and
    Brian2's console handler at WARNING (its INFO lines would repeat ours, in
    Brian2's format). Both restored afterwards.
    """
    from brian2.utils.logger import BrianLogger

    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(logging.INFO)
    handler.addFilter(_BelowWarnings())
    library = logging.getLogger("brian2.rtrl_brian")
    library.addHandler(handler)
    console = BrianLogger.console_handler
    level = console.level
    console.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        console.setLevel(level)
        library.removeHandler(handler)


def main(argv=None):
    """Entry point of the ``rtrl-brian`` console script."""
    args = build_parser().parse_args(argv)
    with _progress_on_stdout():
        return _main(args)


def _main(args):
    if args.traceback:
        return _run(args)
    try:
        return _run(args)
    except Exception as error:
        if args.command != "check" and not isinstance(error, USER_ERRORS):
            raise
        print(f"rtrl-brian {args.command}: {_user_error(error)}\n(--traceback shows where)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
