"""
Inner loops of the sparse engine, for each Brian2 code-generation target.

The hot loop of event-driven RTRL adds, for every influence-matrix row that
receives something this step, a weighted sum of a few source rows (spike rows
of active units, rows of other state variables):

    S[t, :] += (sum_k  w_k * R[s_k, :]) / scale[t]            (CSR over t)

The source rows ``R`` come in parts, each rows of an array that holds them
already (a spike-row store, the influence matrix itself, a copy). ``numpy``
gathers them and evaluates a sparse matrix product and a fancy-indexed update
(several passes over the receiving rows); ``cython`` reads each source row where
it is (through a table of row addresses) and runs one fused pass per column
block, taking a receiving row's sources four at a time, compiled with Brian2's
own Cython machinery: its compiler, flags (``prefs.codegen.cpp``) and cache
(``prefs.codegen.runtime.cython.cache_dir``). The learner follows
``prefs.codegen.target`` as Brian2 objects do (`rtrl_brian.targets`).
"""

import numpy as np
from scipy import sparse

from .templating import render

__all__ = ["NumpyKernels", "CythonKernels", "gather", "compile_extension"]


class NumpyKernels:
    """The reference implementation (numpy and scipy)."""

    name = "numpy"

    @staticmethod
    def accumulate_rows(S, scale, targets, indptr, sources, weights, parts):
        """
        ``S[targets[t]] += sum_k weights[k] * R[sources[k]] / scale[targets[t]]``.

        Parameters
        ----------
        S : ndarray
            ``(rows, columns)``, updated in place.
        scale : ndarray
            Lazy per-row scale of ``S``.
        targets : ndarray
            Distinct rows of ``S`` that receive something.
        indptr, sources, weights : ndarray
            CSR: entries ``indptr[t]:indptr[t+1]`` belong to ``targets[t]``.
        parts : list of (ndarray, ndarray)
            The source rows ``R``, numbered across the parts: rows
            ``positions`` of ``array`` for each ``(array, positions)``, arrays
            of ``S``'s dtype. They may be rows of ``S`` itself, other than
            ``targets``.
        """
        source_rows = gather(parts)
        coupling = sparse.csr_matrix(
            (weights / np.repeat(scale[targets], np.diff(indptr)), sources, indptr),
            shape=(len(targets), len(source_rows)))
        S[targets] += coupling @ source_rows


class CythonKernels:
    """The same loops compiled through Brian2's Cython extension manager."""

    name = "cython"
    _module = None
    #: Bytes of source rows a column block may span: between the L2 and L3 caches
    #: (measured best here: 1 to 4 MiB at n = 1024; see docs/benchmarks.md).
    BLOCK_BYTES = 2 * 2 ** 20
    #: Bounds on the columns per block.
    MIN_BLOCK, MAX_BLOCK = 64, 16384

    def __init__(self):
        if CythonKernels._module is None:
            CythonKernels._module = compile_extension(render("cython", "accumulate_rows.pyx"),
                                                      "rtrl_brian_kernels")

    def accumulate_rows(self, S, scale, targets, indptr, sources, weights, parts):
        """As `NumpyKernels.accumulate_rows`, in one compiled pass, reading rows in place."""
        addresses = [_row_addresses(array, positions, S.dtype) for array, positions in parts]
        addresses = addresses[0] if len(addresses) == 1 else np.concatenate(addresses)
        self._module.accumulate_rows(S, scale, _index(targets), _index(indptr), _index(sources),
                                     np.ascontiguousarray(weights, dtype=np.float64), addresses,
                                     self.block(len(addresses), S.dtype.itemsize))

    def block(self, n_sources, itemsize):
        """Columns per block so that the sources' block stays in cache."""
        columns = self.BLOCK_BYTES // max(1, n_sources * itemsize)
        return int(min(self.MAX_BLOCK, max(self.MIN_BLOCK, columns // 16 * 16)))


def compile_extension(source, owner_name):
    """
    Compile Cython ``source`` with Brian2's extension manager.

    Brian2's compiler and flags (``prefs.codegen.cpp``) and its cache
    (``prefs.codegen.runtime.cython.cache_dir``): a source compiled before
    loads from the cache.

    Parameters
    ----------
    source : str
    owner_name : str
        Names the module in Brian2's cache.

    Returns
    -------
    module : module
    """
    from brian2.codegen.cpp_prefs import get_compiler_and_args
    from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager
    from brian2.core.preferences import prefs

    compiler, flags = get_compiler_and_args()
    module = cython_extension_manager.create_extension(
        source, compiler=compiler, extra_compile_args=flags,
        extra_link_args=prefs["codegen.cpp.extra_link_args"],
        include_dirs=prefs["codegen.cpp.include_dirs"], owner_name=owner_name)
    if module is None:
        raise RuntimeError("Compiling rtrl_brian's Cython code failed (see the compiler output "
                           "above); use prefs.codegen.target = 'numpy' meanwhile.")
    return module


def gather(parts):
    """The source rows of ``parts`` (``(array, positions)`` pairs) as one new array."""
    return np.concatenate([array[positions] for array, positions in parts])


def _row_addresses(array, positions, dtype):
    """Memory addresses of rows ``positions`` of ``array`` (checked: ``dtype``, C order)."""
    if array.dtype != dtype or not array.flags.c_contiguous:
        raise TypeError(f"Source rows must be C-contiguous {dtype}, got {array.dtype} "
                        f"(C-contiguous: {array.flags.c_contiguous}).")
    addresses = np.asarray(positions, dtype=np.uintp) * np.uintp(array.strides[0])
    addresses += np.uintp(array.ctypes.data)
    return addresses


def _index(array):
    return np.ascontiguousarray(array, dtype=np.intp)
