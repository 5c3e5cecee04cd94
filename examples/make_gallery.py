"""
Make the gallery again: every run whose figures and numbers docs/gallery.md quotes.

    python examples/make_gallery.py                 # all of them (about 1.5 h on 2 cores)
    python examples/make_gallery.py demo spiral     # some of them
    python examples/make_gallery.py --list          # what each one runs

Each run is a command of docs/gallery.md, run from the repository's root; its
folder gets its figures, ``metrics.csv`` and ``summary.json``. tests/test_docs.py
checks that the page and this list agree, that the numbers the pages quote are the
ones the runs recorded, and that a short run of the demo still gives the recorded
run's first trials (so a change of the code that would change the quoted numbers is
found, and this script run).
"""

import argparse
import pathlib
import shlex
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: The classic models of examples/brian2_models, in the order of the gallery's table.
BRIAN2_MODELS = ("cuba", "coba", "cobahh", "adex", "adaptive_threshold", "izhikevich",
                 "brunel_hakim", "brunel2000", "gap_junctions", "tsodyks_markram", "synfire",
                 "vogels")

#: Each run of the gallery: its name and its command, as docs/gallery.md prints it.
RUNS = {
    "demo": "rtrl-brian demo --out docs/gallery/demo",
    "evidence": "rtrl-brian train evidence --out docs/gallery/evidence",
    "evidence_binary": "rtrl-brian train evidence --target cpp_standalone "
                       "--out docs/gallery/evidence_binary",
    "recall": "rtrl-brian train recall --out docs/gallery/recall",
    "spiral": "rtrl-brian train spiral --out docs/gallery/spiral",
    "lif_pattern": "python examples/lif_pattern_generation.py --out docs/gallery/lif_pattern",
    "lif_pattern_standalone": "python examples/lif_pattern_generation.py --standalone "
                              "--out docs/gallery/lif_pattern_standalone",
    "alif_demo": "rtrl-brian demo --model alif --out docs/images/alif_demo",
    **{f"brian2_models/{model}": f"python examples/brian2_models/{model}.py "
                                 f"--out docs/gallery/brian2_models"
       for model in BRIAN2_MODELS},
}


def argv(command):
    """The command with this Python in place of ``python`` and ``rtrl-brian``."""
    words = shlex.split(command)
    if words[0] == "rtrl-brian":
        return [sys.executable, "-m", "rtrl_brian.apps.cli"] + words[1:]
    return [sys.executable] + words[1:]


def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", metavar="run",
                        help=f"runs to make (default: all): {', '.join(RUNS)}; "
                             f"'brian2_models' for all classic models")
    parser.add_argument("--list", action="store_true", help="print each run's command and stop")
    options = parser.parse_args(args)
    chosen = [name for name in RUNS
              if not options.runs or name in options.runs
              or (name.startswith("brian2_models/") and "brian2_models" in options.runs)]
    unknown = set(options.runs) - set(RUNS) - {"brian2_models"}
    if unknown:
        parser.error(f"unknown run(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(RUNS)} or brian2_models")
    for name in chosen:
        if options.list:
            print(f"{name:32s} {RUNS[name]}")
            continue
        print(f"== {name}: {RUNS[name]}", flush=True)
        started = time.time()
        subprocess.run(argv(RUNS[name]), cwd=ROOT, check=True)
        print(f"== {name}: {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
