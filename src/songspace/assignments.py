"""``NAME=VALUE`` assignments as written on a command line, parsed into mappings.

The CLI's repeatable options (``--map sequence_id=session``, ``--param dim=64``,
``--param musig.epochs=20``) are parsed here, so that a library caller building the same
mappings from strings gets the same checks and the same error text. Values stay strings;
a model's parameters are converted by the model registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from songspace.errors import ParameterError


def parse_assignments(
    items: Iterable[str] | None, option: str, *, example: str = "sequence_id=session"
) -> dict[str, str]:
    """``["a=b", " c = d "]`` -> ``{"a": "b", "c": "d"}``; a later repeat of a name wins.

    ``option`` names the option in the error message (e.g. ``--map``); ``example`` is
    the assignment the fix shows.
    """
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(
                option,
                f"`{option} NAME=VALUE`",
                item,
                fix=f"write it like {option} {example}",
            )
        out[name.strip()] = value.strip()
    return out


def parse_model_assignments(
    items: Iterable[str] | None, option: str = "--param"
) -> dict[str, dict[str, str]]:
    """``["musig.epochs=20", "graphsage.dim=64"]`` -> ``{"musig": {"epochs": "20"}, ...}``.

    Every name must be prefixed by the model it belongs to (``MODEL.NAME=VALUE``).
    """
    per_model: dict[str, dict[str, str]] = {}
    for name, value in parse_assignments(items, option, example="musig.epochs=20").items():
        model, dot, key = name.partition(".")
        if not dot or not model or not key:
            raise ParameterError(
                option,
                f"`{option} MODEL.NAME=VALUE`",
                f"{name}={value}",
                fix="prefix the parameter with the model it belongs to, e.g. musig.epochs=20",
            )
        per_model.setdefault(model, {})[key] = value
    return per_model


def parse_configurations(
    items: Iterable[str] | None, option: str, *, example: str = "dim=64;window=10"
) -> tuple[dict[str, str], ...]:
    """``["a=1;b=2", "a=3"]`` -> ``({"a": "1", "b": "2"}, {"a": "3"})``: one configuration
    per item, its ``NAME=VALUE`` assignments separated by ``;`` (a value may hold commas,
    e.g. ``task_weights=0.7,0.1,0.2``)."""
    return tuple(
        parse_assignments(
            [part for part in item.split(";") if part.strip()] or [item], option, example=example
        )
        for item in items or []
    )


__all__ = ["parse_assignments", "parse_configurations", "parse_model_assignments"]
