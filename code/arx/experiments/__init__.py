"""Experiments: the typed seam between a workflow rule and the method code.

An experiment is registered with ``@experiment("name", config=Config, metrics=Metrics)`` in the module of its
paper (``arx.experiments.<paper>``) and has the signature ``fn(cfg: Config, ctx: RunContext) -> Metrics``:

* ``Config`` (subclass of :class:`ExperimentConfig`): every key the experiment reads, each with an explicit
  default or required; unknown keys are rejected. ``arx.run`` validates the merged YAML config against it and
  records the *resolved* config (defaults included) in provenance, so a changed default makes old evidence stale.
* ``Metrics`` (subclass of :class:`ExperimentMetrics`): the quantities it measures, never a pass/fail flag;
  where a number is a mean or rate over items, the per-item values sit beside it.
* :class:`RunContext`: what the run, not the experiment, decides (output dir, seed, scale, device, threads,
  dtype, a progress hook).

It builds data and models through ``arx.data`` and ``arx.models``, calls ``arx.methods``, writes arrays, plots
and checkpoints under ``ctx.out`` and returns its metrics. It knows nothing of claims, DVC or the exploration
graph: ``arx.run`` records the run, adds provenance and writes ``ctx.out/metrics.json``.

Why pydantic models rather than dicts: a typo in a YAML key or a default changed in code used to be invisible
(``cfg.get("ig_steps", 16)``); now the first is an exit-2 error naming the key and the second changes the
recorded config. JSON Schemas of every Config and Metrics are generated into ``logic/schemas/experiments/``
so ``arx validate`` can check, without importing torch, that a claim's metric key exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

#: Keys of a merged config that belong to the run, not to the experiment (set by the scale's ``defaults``).
RUNTIME_KEYS = ("seed", "scale", "device", "num_threads", "dtype")


class ExperimentConfig(BaseModel):
    """Base of every experiment's Config: unknown keys are errors; frozen, so an experiment cannot change its config
    after it was recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentMetrics(BaseModel):
    """Base of every experiment's Metrics: only declared quantities, no pass/fail flags."""

    model_config = ConfigDict(extra="forbid")


def _log_progress(message: str) -> None:
    logging.getLogger("arx.progress").info(message)


@dataclass(frozen=True)
class RunContext:
    """What the run decides for an experiment: where to write, which seed, scale and device."""

    out: Path
    seed: int = 0
    scale: str = "small"
    device: str = "cpu"
    threads: int = 1
    dtype: str = "float32"
    progress: Callable[[str], None] = field(default=_log_progress, compare=False, repr=False)

    @classmethod
    def from_runtime(cls, out: Path, runtime: dict[str, Any]) -> RunContext:
        """The context from the runtime keys of a merged config (``RUNTIME_KEYS``)."""
        return cls(out=out, seed=int(runtime.get("seed", 0)), scale=str(runtime.get("scale", "small")),
                   device=str(runtime.get("device", "cpu")), threads=int(runtime.get("num_threads", 1)),
                   dtype=str(runtime.get("dtype", "float32")))


C = TypeVar("C", bound=ExperimentConfig)
M = TypeVar("M", bound=ExperimentMetrics)


@dataclass(frozen=True)
class Experiment(Generic[C, M]):
    """One registered experiment: its name, typed config and metrics, and the function."""

    name: str
    config: type[C]
    metrics: type[M]
    fn: Callable[[C, RunContext], M]

    @property
    def module(self) -> str:
        return self.fn.__module__

    def run(self, cfg: C, ctx: RunContext) -> M:
        """Call the experiment and check that it returned its declared Metrics."""
        result = self.fn(cfg, ctx)
        if isinstance(result, dict):  # a plain dict is validated against the declared model
            result = self.metrics.model_validate(result)
        if not isinstance(result, self.metrics):
            raise TypeError(f"experiment {self.name!r} returned {type(result).__name__}, "
                            f"expected {self.metrics.__name__}")
        return result


_REGISTRY: dict[str, Experiment[Any, Any]] = {}


def experiment(name: str, *, config: type[ExperimentConfig], metrics: type[ExperimentMetrics]):
    """Register ``fn(cfg: config, ctx: RunContext) -> metrics`` under ``name`` (the id workflow rules use)."""
    if not (isinstance(config, type) and issubclass(config, ExperimentConfig)):
        raise TypeError(f"experiment {name!r}: config must subclass ExperimentConfig")
    if not (isinstance(metrics, type) and issubclass(metrics, ExperimentMetrics)):
        raise TypeError(f"experiment {name!r}: metrics must subclass ExperimentMetrics")

    def register(fn: Callable[[Any, RunContext], Any]) -> Callable[[Any, RunContext], Any]:
        known = _REGISTRY.get(name)
        if known is not None and known.fn is not fn:
            raise ValueError(f"experiment {name!r} is registered twice ({known.module} and {fn.__module__})")
        _REGISTRY[name] = Experiment(name, config, metrics, fn)
        return fn

    return register


def registered() -> dict[str, Experiment[Any, Any]]:
    """Every experiment of the package's modules (imports them all: torch included)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(_REGISTRY.items()))
