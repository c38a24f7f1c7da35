"""The registry of reconstruction methods behind ``spikekit recon -m NAME`` and ``spikekit eval``.

The built-in methods (TFP, TFI, TFSTP) are listed here, so they work whatever the installed
metadata says; any other package adds methods through the ``spikekit.methods`` entry-point
group (:mod:`spikekit.plugins`; ``ssml`` adds ``ssml`` and ``ssml-lite``). Each entry maps a
method name to ``"module:attribute"`` of a :class:`~spikekit.recon.base.Method`, imported on
first use (a method's heavy dependencies load only when it is asked for). How to write one:
docs/plugins.md.

The CLI, ``--scale auto``, gamma, chunking of long files, output writers and ``eval`` then work
unchanged for every method; ``spikekit.recon.reconstruct(get_method(NAME), spikes, at=...)`` is
the Python API.
"""
from __future__ import annotations

import functools
import warnings

from ..plugins import METHODS_GROUP, PluginError, load, registered
from .base import Method

BUILTIN: dict[str, str] = {
    "tfp": "spikekit.recon.tfp:METHOD",
    "tfi": "spikekit.recon.tfi:METHOD",
    "tfstp": "spikekit.recon.tfstp:METHOD",
}


@functools.lru_cache(maxsize=None)
def _methods() -> dict[str, str]:
    table = dict(BUILTIN)
    for name, target in registered(METHODS_GROUP).items():
        if name in BUILTIN:
            warnings.warn(f"plugin method {name!r} ({target}) is ignored: {name} is built in", stacklevel=2)
        else:
            table[name] = target
    return table


def method_names() -> list[str]:
    """Registered method names: the built-in ones, then the plugins' in name order."""
    return list(_methods())


def get_method(name: str) -> Method:
    """The :class:`Method` registered as ``name``.

    Raises:
        ValueError: unknown name (lists the known ones).
        spikekit.plugins.PluginError (an ImportError): the plugin that registers it is not
            installed or cannot be loaded (one line naming it), or its entry point is not a Method.
    """
    methods = _methods()
    if name not in methods:
        raise ValueError(f"unknown reconstruction method {name!r}; choose one of {', '.join(methods)}")
    method = load(methods[name], f"-m {name}")
    if not isinstance(method, Method):
        raise PluginError(f"-m {name}: its entry point {methods[name]} is a {type(method).__name__}, "
                          "not a spikekit.recon.Method")
    return method
