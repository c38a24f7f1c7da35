"""Typed options of a reconstruction method: one small frozen dataclass per method, beside the
pure function that reconstructs.

The fields of a method's options class are everything the method can be told: the keywords of
:func:`spikekit.recon.reconstruct`, and on the command line its ``--param NAME=VALUE`` items
(each value read as its field's type by :func:`parse_params`) or the flags that set a field of
that name (``-w`` for ``window``, ``--max-interval``, ``--weights``). The class checks its values
in ``__post_init__`` (ValueError naming the field and what was expected; :func:`make_options`
puts the method's name in front), and :func:`describe` writes the ``--param`` text of ``--help``
from the fields and their defaults. A field may carry ``metadata={"values": "N"}`` to show
``NAME=N`` in ``--help`` instead of its default.
"""
from __future__ import annotations

import dataclasses
import types
import typing

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_NONE = ("none", "null")
_UNIONS = (typing.Union, getattr(types, "UnionType", typing.Union))  # Optional[int], int | None


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of a method that takes none."""


def option_names(cls) -> tuple[str, ...]:
    """The field names of an options class, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def unknown_names(method: str, names, known) -> ValueError:
    """The error for option ``names`` that ``method`` does not take (``known``: the ones it does)."""
    taken = f"known: {', '.join(known)}" if known else "it takes none"
    return ValueError(f"{method}: unknown parameter(s) {sorted(names)}; {taken}")


def make_options(cls, values: dict, method: str):
    """``cls(**values)``, naming the names it does not have.

    Raises:
        ValueError: an unknown name (lists the known ones), or a value the class rejects; either
            message starts with ``method`` (one class may serve several methods: ``ssml``,
            ``ssml-lite``), so the class's own messages do not name one.
    """
    unknown = set(values) - set(option_names(cls))
    if unknown:
        raise unknown_names(method, unknown, option_names(cls))
    try:
        return cls(**values)
    except ValueError as e:
        raise ValueError(f"{method}: {e}") from None


def check_flag(value, name: str) -> bool:
    """A boolean option's value (True/False or 1/0, as :func:`parse_value` reads 1/0, true/false,
    yes/no, on/off from the command line) as a bool.

    Raises:
        ValueError: anything else, naming ``name`` and the words a ``--param`` takes.
    """
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be 1 (on) or 0 (off) ({'/'.join(_TRUE[1:])} and "
                     f"{'/'.join(_FALSE[1:])} also do), got {value!r}")


def parse_value(text: str, kind):
    """A ``--param`` value text as the type ``kind`` (a field's resolved annotation): ``none`` or
    ``null`` is None for an Optional field; ``int`` takes ``400`` or ``1e3`` (not ``2.5``);
    ``float`` any number; ``bool`` 1/0, true/false, yes/no, on/off. Text that does not convert
    is returned stripped, for the options class to reject with its own message."""
    text = text.strip()
    kinds = typing.get_args(kind) if typing.get_origin(kind) in _UNIONS else (kind,)
    if type(None) in kinds and text.lower() in _NONE:
        return None
    for k in kinds:
        if k is bool and text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        if k in (int, float):
            try:
                number = float(text)
            except ValueError:
                continue
            if k is float:
                return number
            if number.is_integer() and "." not in text:
                return int(number)
    return text


def parse_params(cls, texts: dict, method: str, exclude=()) -> dict:
    """``--param`` items ({name: value text}) as typed values of ``cls``'s fields.

    Args:
        exclude: field names that their own command-line flags set; ``--param`` refuses them.

    Raises:
        ValueError: a name that is not a field of ``cls`` or is in ``exclude``.
    """
    hints = typing.get_type_hints(cls)
    allowed = [name for name in option_names(cls) if name not in exclude]
    unknown = set(texts) - set(allowed)
    if unknown:
        raise unknown_names(method, unknown, allowed)
    return {name: parse_value(text, hints[name]) for name, text in texts.items()}


def describe(cls, exclude=()) -> str:
    """The ``--param`` items of ``cls`` for ``--help``: ``"u0=0.15, D=1.0, warmup=400"``
    (choices as ``precision=auto|fp32|bf16``, booleans as ``anchor=1|0``; the default first);
    ``""`` for none."""
    hints = typing.get_type_hints(cls)
    items = []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        if "values" in f.metadata:
            shown = f.metadata["values"]
        elif typing.get_origin(kind) is typing.Literal:
            shown = "|".join(map(str, typing.get_args(kind)))
        elif kind is bool:
            shown = "1|0" if f.default else "0|1"
        else:
            shown = f.default
        items.append(f"{f.name}={shown}")
    return ", ".join(items)
