"""Model zoo: build_model, save_model, load_model, load_paper_model, get_adapter/ModelAdapter, train."""

from arx.models.adapters import ModelAdapter, get_adapter
from arx.models.registry import (FAMILIES, PAPER_CHECKPOINTS, build_model, load_model, load_paper_model,
                                 model_config, save_model)
from arx.models.training import TrainConfig, TrainResult, train

__all__ = ["FAMILIES", "PAPER_CHECKPOINTS", "ModelAdapter", "TrainConfig", "TrainResult", "build_model",
           "get_adapter", "load_model", "load_paper_model", "model_config", "save_model", "train"]
