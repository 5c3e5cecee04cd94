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
    return parser


def main(argv=None):
    """Entry point of the ``rtrl-brian`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        run_demo(args.out, trials=args.trials, n_rec=args.neurons, steps=args.steps,
                 seed=args.seed, log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
