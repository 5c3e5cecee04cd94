"""
One network across MPI ranks (`RTRL(partition='mpi')`): two ranks on localhost learn as
one process does, and a rank that fails stops every rank. The ranks run
tests/mpi_program.py under the mpiexec of the ``distributed`` extra (MPICH's wheels).
"""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from brian2 import prefs

import rtrl_brian as rb
from helpers import relative_error

pytestmark = pytest.mark.codegen_independent

PROGRAM = pathlib.Path(__file__).resolve().parent / "mpi_program.py"


def mpiexec():
    pytest.importorskip("mpi4py")
    found = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(found) if found.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install 'rtrl_brian[distributed]')")
    return found


def run(command, timeout=300):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.long
@pytest.mark.parametrize("engine", ["sparse", "dense", "compiled"])
def test_two_ranks_learn_as_one_process(tmp_path, engine):
    """Online learning with Adam, 60 steps: parameters, gradients and losses of two ranks
    equal one process's, each rank holding half of the columns."""
    launcher = mpiexec()
    options = ["--engine", engine, "--cache", prefs.codegen.runtime.cython.cache_dir]
    one = run([sys.executable, str(PROGRAM), str(tmp_path / "one.npz")] + options)
    assert one.returncode == 0, one.stderr
    two = run([launcher, "-n", "2", sys.executable, str(PROGRAM), str(tmp_path / "two.npz"),
               "--partition"] + options)
    assert two.returncode == 0, two.stderr
    single, split = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert int(split["ranks"]) == 2 and int(single["ranks"]) == 1
    assert abs(int(split["columns"]) - int(single["n_params"]) / 2) <= 1  # rank 0's half
    for key in ("rec", "out", "grad_rec", "grad_out", "loss"):
        assert relative_error(split[key], single[key]) < 1e-12, key
    assert np.max(np.abs(single["grad_rec"])) > 0 and np.ptp(single["loss"]) > 0


@pytest.mark.long
def test_a_rank_that_fails_stops_every_rank(tmp_path):
    """Rank 1 raises at step 20 while rank 0 waits for its gradient: both stop, with the
    error, instead of rank 0 waiting for ever."""
    result = run([mpiexec(), "-n", "2", sys.executable, str(PROGRAM),
                  str(tmp_path / "out.npz"), "--partition", "--fail-rank", "1"], timeout=120)
    assert result.returncode != 0
    assert "rank 1 failed on purpose" in result.stderr
    assert not (tmp_path / "out.npz").exists()


def test_partition_needs_mpi4py_and_is_checked(monkeypatch):
    from brian2 import NeuronGroup, Synapses

    group = NeuronGroup(2, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0")
    synapses = Synapses(group, group, "w : 1", on_pre="v_post += w")
    synapses.connect()
    loss = rb.losses.MSE(group.v, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="'partition' must be None or 'mpi'"):
        rb.RTRL([synapses.w], loss, partition="dask")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    with pytest.raises(ImportError, match=r"rtrl_brian\[distributed\]"):
        rb.RTRL([synapses.w], loss, partition="mpi")
