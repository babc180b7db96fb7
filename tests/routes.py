"""Every URL the app answers, built from its URL map: tests walk it so a new route cannot slip by."""

from __future__ import annotations

import itertools
import re

from flask import Flask

PARAM = re.compile(r"<(?:([a-z_]+)(?:\(([^)]*)\))?:)?([a-z_]+)>")


def _choices(converter: str | None, args: str | None, name: str, values: dict) -> list[str]:
    """The values to put in one URL parameter: all choices of an `any(...)`, else `values[name]`."""
    if converter == "any":
        return [choice.strip().strip("'\"") for choice in args.split(",")]
    if name in values:
        found = values[name]
        return [str(v) for v in found] if isinstance(found, list | tuple | set) else [str(found)]
    if converter in {"int", "float"}:
        return [str(v) for v in values.get("*int", [1])]
    return [str(values.get("*", "x"))]


def urls(app: Flask, method: str, values: dict) -> list[tuple[str, str]]:
    """(rule, url) for every rule that takes `method`, parameters filled from `values`.

    `values` maps a parameter name to one value or a list (each makes its own URL); an int
    parameter not named there takes each of `values["*int"]`, any other one `values["*"]`.
    """
    out = []
    for rule in app.url_map.iter_rules():
        if method not in rule.methods or rule.endpoint == "static":
            continue
        params = PARAM.findall(rule.rule)
        options = [_choices(converter, args, name, values) for converter, args, name in params]
        for combination in itertools.product(*options):
            url = rule.rule
            for value in combination:
                url = PARAM.sub(lambda _, value=value: value, url, count=1)
            out.append((rule.rule, url))
    return out
