"""Plugins: reconstruction methods and commands that other packages register through entry points.

A package adds ``spikekit recon -m NAME`` by declaring, in its package metadata, an entry point
``NAME = package.module:OBJECT`` in the group ``spikekit.methods`` (OBJECT a
:class:`spikekit.recon.Method`), and a command ``spikekit NAME`` by one in ``spikekit.commands``
(OBJECT a click command); docs/methods.md ("Writing a plugin") shows both. The ``ssml`` package
registers ``-m ssml``, ``-m ssml-lite`` and ``train``/``export``/``adapt`` this way (setup.py),
so spikekit itself names no plugin and runs without any.

Discovery reads only the installed metadata (``importlib.metadata``): nothing is imported until
a method or command is used, so ``spikekit --help`` stays fast. An editable install's metadata is
written at install time: after adding an entry point, reinstall (``pip install --no-deps
--no-build-isolation -e .``; ``make`` does it when setup.py changes).
"""
from __future__ import annotations

import functools
import importlib

METHODS_GROUP = "spikekit.methods"
COMMANDS_GROUP = "spikekit.commands"


class PluginError(ImportError):
    """A registered plugin object that cannot be loaded; the message is one line naming it."""


@functools.lru_cache(maxsize=None)
def registered(group: str) -> dict[str, str]:
    """The entry points of ``group`` in the installed metadata, as {name: ``"module:attribute"``}
    sorted by name (for a name declared twice, the first distribution on ``sys.path`` wins)."""
    from importlib.metadata import entry_points

    found = entry_points()
    found = found.select(group=group) if hasattr(found, "select") else found.get(group, ())  # Python < 3.10
    table: dict[str, str] = {}
    for ep in found:
        table.setdefault(ep.name, ep.value)
    return dict(sorted(table.items()))


def load(target: str, what: str):
    """The object that ``target`` (``"module:attribute"``) names, importing its module.

    Args:
        what: what it is for messages, e.g. ``"-m ssml"``.

    Raises:
        PluginError: the plugin's package is not installed, a dependency of it is missing, its
            import fails, or the module has no such attribute (one line, never a traceback).
    """
    module, _, attr = target.partition(":")
    top = module.split(".")[0]
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module + ".").startswith(exc.name + "."):
            raise PluginError(f"{what}: the {top} plugin is not installed (importing {module}: {exc})") from exc
        raise PluginError(f"{what}: the {top} plugin cannot be loaded: {module} needs the module "
                          f"{exc.name!r}, which is not installed") from exc
    except Exception as exc:  # a broken plugin: its own error, on one line
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise PluginError(f"{what}: the {top} plugin cannot be loaded: importing {module} raised "
                          f"{type(exc).__name__}: {first}") from exc
    try:
        return getattr(imported, attr) if attr else imported
    except AttributeError:
        raise PluginError(f"{what}: the {top} plugin's entry point {target} names nothing "
                          f"({module} has no {attr!r})") from None
