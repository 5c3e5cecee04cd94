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
from brian2 import get_logger
from scipy import sparse

from .templating import render

__all__ = ["NumpyKernels", "CythonKernels", "gather", "compile_extension",
           "compile_threaded_extension"]

logger = get_logger(__name__)


class NumpyKernels:
    """The reference implementation (numpy and scipy)."""

    name = "numpy"

    @staticmethod
    def accumulate_rows(S, scale, targets, indptr, sources, weights, parts, threads=1):
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
        threads : int, optional
            Unused here (numpy's own threads, if any, apply).
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
            CythonKernels._module, _ = compile_threaded_extension(
                lambda openmp: render("cython", "accumulate_rows.pyx", openmp=openmp),
                "rtrl_brian_kernels")

    def accumulate_rows(self, S, scale, targets, indptr, sources, weights, parts, threads=1):
        """
        As `NumpyKernels.accumulate_rows`, in one compiled pass, reading rows in
        place; ``threads`` take whole column blocks (bitwise the same for any number).
        """
        addresses = [_row_addresses(array, positions, S.dtype) for array, positions in parts]
        addresses = addresses[0] if len(addresses) == 1 else np.concatenate(addresses)
        self._module.accumulate_rows(S, scale, _index(targets), _index(indptr), _index(sources),
                                     np.ascontiguousarray(weights, dtype=np.float64), addresses,
                                     self.block(len(addresses), S.dtype.itemsize), threads)

    def block(self, n_sources, itemsize):
        """Columns per block so that the sources' block stays in cache."""
        columns = self.BLOCK_BYTES // max(1, n_sources * itemsize)
        return int(min(self.MAX_BLOCK, max(self.MIN_BLOCK, columns // 16 * 16)))


def compile_extension(source, owner_name, openmp=False):
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
    openmp : bool, optional
        Compile and link with OpenMP. Brian2's cache knows a module by its
        source only: a source compiled with and without OpenMP must differ.

    Returns
    -------
    module : module
    """
    from brian2.codegen.cpp_prefs import get_compiler_and_args
    from brian2.codegen.runtime.cython_rt.extension_manager import cython_extension_manager
    from brian2.core.preferences import prefs

    compiler, flags = get_compiler_and_args()
    link_flags = list(prefs["codegen.cpp.extra_link_args"])
    if openmp:
        openmp_flag = "/openmp" if compiler == "msvc" else "-fopenmp"
        flags, link_flags = flags + [openmp_flag], link_flags + [openmp_flag]
    module = cython_extension_manager.create_extension(
        source, compiler=compiler, extra_compile_args=flags, extra_link_args=link_flags,
        include_dirs=prefs["codegen.cpp.include_dirs"], owner_name=owner_name)
    if module is None:
        raise RuntimeError("Compiling rtrl_brian's Cython code failed (see the compiler output "
                           "above); use prefs.codegen.target = 'numpy' meanwhile.")
    return module


def compile_threaded_extension(source_of, owner_name):
    """
    Compile ``source_of(openmp=True)`` with OpenMP, or the serial source where
    the compiler has no OpenMP (once per process: a warning, then serial).

    Parameters
    ----------
    source_of : callable
        ``source_of(openmp)``: the Cython source with or without OpenMP.
    owner_name : str

    Returns
    -------
    module : module
    openmp : bool
        Whether the module runs threads.
    """
    global _openmp_works
    if _openmp_works is not False:
        try:
            module = compile_extension(source_of(True), owner_name, openmp=True)
            _openmp_works = True
            return module, True
        except Exception as error:  # the compiler or linker refused OpenMP
            if _openmp_works:
                raise
            _openmp_works = False
            logger.warn(f"Compiling with OpenMP failed here ({type(error).__name__}: {error}); "
                        f"the learning step runs on one thread.", "no_openmp", once=True)
    return compile_extension(source_of(False), owner_name), False


#: Whether OpenMP compiled here (None: not tried yet in this process).
_openmp_works = None


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
