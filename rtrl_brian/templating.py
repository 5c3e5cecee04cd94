"""
The templates of the learner's generated code: one folder per target in
``rtrl_brian/templates`` (`rtrl_brian.targets`), rendered with Jinja as Brian2
renders its own.

``c/``
    ``rtrl_step.c``: the whole learning step in plain C, which both targets
    below embed; ``rtrl_learn.c``: the learner's step around it (spikes, the
    replay check, the loss, the gradient, the figures), which both call.
``cython/``
    ``rtrl_step.pyx`` (the compiled engine's module around the C step, with
    ``rtrl_learn`` where the learner's step is fused: `rtrl_brian.fused`) and
    ``accumulate_rows.pyx`` (the sparse engine's kernels).
``cpp_standalone/``
    ``rtrl_learn.cpp`` and ``rtrl_snapshot.cpp`` (code objects of Brian2's
    binary, found through its templater) and ``blocks/``, the C forms of
    losses and optimizers (`rtrl_brian.cforms`).
"""

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["render", "TEMPLATES"]

#: The package folder that holds one folder of templates per target.
TEMPLATES = "templates"


@functools.lru_cache(maxsize=None)
def _environment(folder):
    return Environment(loader=PackageLoader("rtrl_brian", f"{TEMPLATES}/{folder}"),
                       trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined,
                       keep_trailing_newline=True)


def render(folder, name, **keywords):
    """
    One template rendered.

    Parameters
    ----------
    folder : str
        Its folder in ``rtrl_brian/templates``, e.g. ``'c'`` or
        ``'cpp_standalone/blocks'``.
    name : str
        Its file name, e.g. ``'rtrl_step.c'``.
    **keywords
        Its variables.

    Returns
    -------
    text : str
    """
    return _environment(folder).get_template(name).render(**keywords)
