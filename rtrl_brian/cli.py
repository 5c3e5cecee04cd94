"""
``rtrl-brian`` command line: a thin layer over the Python API.
"""

import argparse
import sys

__all__ = ["main"]


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def build_parser():
    parser = argparse.ArgumentParser(prog="rtrl-brian",
                                     description="Exact online learning (RTRL) for Brian2.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a recurrent LIF network online on "
                                            "pattern generation and write plots")
    demo.add_argument("--out", default="rtrl_demo", help="output folder (default: rtrl_demo)")
    demo.add_argument("--trials", type=_positive(int), default=150)
    demo.add_argument("--neurons", type=_positive(int), default=40)
    demo.add_argument("--steps", type=_positive(int), default=200, help="ms per trial")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--model", choices=["lif", "alif"], default="lif",
                      help="recurrent units (default: lif)")
    bench = commands.add_parser("bench", help="benchmark the engines (sparse vs dense, RTRL "
                                              "vs BPTT, roofline) and write a report")
    bench.add_argument("--out", default="benchmark_results",
                       help="output folder (default: benchmark_results)")
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
                       help="Brian2 code-generation target (default: cython)")
    return parser


def main(argv=None):
    """Entry point of the ``rtrl-brian`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        run_demo(args.out, trials=args.trials, n_rec=args.neurons, steps=args.steps,
                 seed=args.seed, log=lambda line: print(line, flush=True),
                 neuron_model=args.model)
    elif args.command == "bench":
        from .benchmark import run_benchmarks
        run_benchmarks(args.out, sizes=tuple(args.sizes), sparsity_n=args.sparsity_n,
                       lengths=tuple(args.lengths), steps=args.steps, target=args.target,
                       log=lambda line: print(line, flush=True))
        print(f"report: {args.out}/results.md, figure: {args.out}/benchmarks.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
