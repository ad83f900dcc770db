"""Model zoo: build/save/load models, the per-family adapter (sizes, capture, gates), training."""

from arx.models.adapters import UNIT_TYPES, AdapterError, ModelAdapter, gated, get_adapter
from arx.models.registry import (
                                 FAMILIES,
                                 PAPER_CHECKPOINTS,
                                 build_from_config,
                                 build_model,
                                 load_model,
                                 load_paper_model,
                                 model_config,
                                 save_model,
)
from arx.models.training import TrainConfig, TrainResult, fit, train

__all__ = ["FAMILIES", "PAPER_CHECKPOINTS", "UNIT_TYPES", "AdapterError", "ModelAdapter", "TrainConfig",
           "TrainResult", "build_from_config", "build_model", "fit", "gated", "get_adapter", "load_model",
           "load_paper_model", "model_config", "save_model", "train"]
