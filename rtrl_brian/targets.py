"""
Code-generation targets of the learner, registered by name as Brian2 registers its own.

Brian2 runs generated code on a *target* of the runtime device
(``prefs.codegen.target``: ``'numpy'``, ``'cython'``, ``'auto'``) or inside the
binary of the ``cpp_standalone`` device. The learner's hot loops follow: each
`Target` says whether it works on this machine (`Target.is_available`), which
sparse-engine kernels it runs, whether it compiles the whole learning step
(``engine='compiled'``), and where its templates are: one folder per target in
``rtrl_brian/templates`` (``cython/``, ``cpp_standalone/``, and ``c/`` for the
plain-C step both embed), as Brian2 keeps ``templates`` per code object class.
`runtime_target` resolves ``prefs.codegen.target`` ('auto' falls back to numpy
with a warning); `device_target` says which target a device is.
"""

import os
import shutil

from brian2 import get_logger
from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

from .kernels import CythonKernels, NumpyKernels

__all__ = ["Target", "NumpyTarget", "CythonTarget", "StandaloneTarget", "TARGETS",
           "runtime_target", "device_target", "available_threads",
           "available_cores"]

logger = get_logger(__name__)


class Target:
    """
    One target: a name, whether it works here, its kernels and its templates.

    Subclasses set `name`, `templates`, `compiles_step` and, on the runtime
    device, `kernel_class`, and implement `is_available`.
    """

    #: Brian2's name of the target (``prefs.codegen.target`` or the device).
    name = None
    #: Folder of its templates in ``rtrl_brian/templates`` (None: it has none).
    templates = None
    #: Whether it runs the whole learning step as generated code.
    compiles_step = False
    #: The sparse engine's inner loops on this target (`rtrl_brian.kernels`; None: none).
    kernel_class = None

    @classmethod
    def is_available(cls):
        """Whether code for this target can run on this machine."""
        raise NotImplementedError

    def kernels(self):
        """The sparse engine's inner loops on this target (compiled on first use)."""
        if self.kernel_class is None:
            raise NotImplementedError(f"The target '{self.name}' has no sparse-engine kernels.")
        return self.kernel_class()


class NumpyTarget(Target):
    """Brian2's numpy target: the reference kernels, no compiler needed."""

    name = "numpy"
    kernel_class = NumpyKernels

    @classmethod
    def is_available(cls):
        return True


class CythonTarget(Target):
    """Brian2's Cython target: compiled kernels, and the compiled engine's whole step."""

    name = "cython"
    templates = "cython"
    compiles_step = True
    kernel_class = CythonKernels

    @classmethod
    def is_available(cls):
        from brian2.codegen.runtime.cython_rt import CythonCodeObject
        return CythonCodeObject.is_available()


class StandaloneTarget(Target):
    """Brian2's C++ standalone device: the whole step inside the binary."""

    name = "cpp_standalone"
    templates = "cpp_standalone"
    compiles_step = True

    @classmethod
    def is_available(cls):
        """A C++ compiler (``$CXX``, default ``c++``) and ``make``, which Brian2's build
        runs (on Windows Brian2 finds MSVC itself)."""
        if os.name == "nt":
            return True
        compiler = os.environ.get("CXX", "c++").split()[0]
        return shutil.which(compiler) is not None and shutil.which("make") is not None


#: Every target by name.
TARGETS = {target.name: target for target in (NumpyTarget, CythonTarget, StandaloneTarget)}

#: Targets of the runtime device, by ``prefs.codegen.target``.
_RUNTIME = ("numpy", "cython")


def runtime_target(name):
    """
    The target the learner uses for ``prefs.codegen.target``.

    ``'auto'`` is Cython where it compiles here (as Brian2 decides), otherwise
    numpy, with a warning (``rtrl_brian.targets.numpy_fallback``, once per
    process).

    Parameters
    ----------
    name : str
        ``'numpy'``, ``'cython'`` or ``'auto'``.

    Returns
    -------
    target : Target

    Raises
    ------
    ValueError
        For a target the learner has no code for.
    """
    if name == "auto":
        if CythonTarget.is_available():
            return CythonTarget()
        logger.warn("prefs.codegen.target is 'auto' and Cython cannot compile here: the "
                    "learners run their numpy kernels (the same gradients, slower; "
                    "engine='compiled' is refused).", name_suffix="numpy_fallback", once=True)
        return NumpyTarget()
    if name in _RUNTIME:
        return TARGETS[name]()
    raise ValueError(f"No rtrl_brian kernels for the code-generation target {name!r} "
                     f"(supported: {', '.join(repr(n) for n in _RUNTIME)}, 'auto').")


def device_target(device):
    """
    The target a Brian2 device is: None for the runtime device (its target is
    ``prefs.codegen.target``), `StandaloneTarget` for Brian2's ``cpp_standalone``.

    A device derived from the cpp_standalone device that generates code of its
    own (brian2cuda's) is not ``cpp_standalone``: it raises.

    Parameters
    ----------
    device : Device

    Returns
    -------
    target : Target or None

    Raises
    ------
    ValueError
        A device rtrl_brian has no target for (its message names the device).
    """
    from brian2.devices.device import RuntimeDevice

    if isinstance(device, RuntimeDevice):
        return None
    if type(device) is CPPStandaloneDevice:
        return StandaloneTarget()
    derived = isinstance(device, CPPStandaloneDevice)
    raise ValueError(
        f"the device '{type(device).__name__}' is not supported: "
        + ("it derives from Brian2's cpp_standalone device but generates code of its own (as "
           "brian2cuda's does), which rtrl_brian's learning step is not written for"
           if derived else "rtrl_brian has no code for it")
        + ". Use 'cpp_standalone' or the runtime device.")


def available_threads(threads=None):
    """
    The threads a learner uses: ``threads``, or when None every core this
    process may use (its CPU affinity where the system has one), at most
    ``OMP_NUM_THREADS`` where that is set (as Dask sets it to 1 for its
    workers, which share the cores).
    """
    if threads is not None:
        return int(threads)
    cores = available_cores()
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    return min(cores, int(limit)) if limit.isdigit() and int(limit) > 0 else cores


def available_cores():
    """The cores this process may use (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
