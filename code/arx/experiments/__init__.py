"""Experiments: the glue between a workflow rule and the method code.

An experiment is a function ``fn(cfg: dict, out: Path) -> dict`` registered with ``@experiment("name")``
in the module of its paper (``arx.experiments.<paper>``). It builds data and models through ``arx.data``
and ``arx.models``, calls ``arx.methods``, writes plots/arrays/checkpoints under ``out`` and returns a
JSON-serialisable dict of metrics. It knows nothing about claims, DVC or the exploration graph:
``arx.run`` records the run, adds provenance and writes ``out/metrics.json``.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable

ExperimentFn = Callable[[dict[str, Any], Path], dict[str, Any]]

_REGISTRY: dict[str, ExperimentFn] = {}


def experiment(name: str) -> Callable[[ExperimentFn], ExperimentFn]:
    """Register ``fn`` under ``name`` (a stable id used by workflow rules)."""

    def register(fn: ExperimentFn) -> ExperimentFn:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"experiment {name!r} is registered twice ({_REGISTRY[name].__module__} and {fn.__module__})")
        _REGISTRY[name] = fn
        return fn

    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def available() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> ExperimentFn:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"unknown experiment {name!r}; known experiments: {known}") from None
