"""Typed, frozen configuration: one dataclass per concern, named presets."""

from fashion_t2i.config.config import Config
from fashion_t2i.config.data_config import DataConfig
from fashion_t2i.config.export_config import ExportConfig
from fashion_t2i.config.model_config import ModelConfig
from fashion_t2i.config.presets import PRESETS, get_preset
from fashion_t2i.config.runtime_config import RuntimeConfig
from fashion_t2i.config.text_config import TextConfig
from fashion_t2i.config.train_config import TrainConfig
from fashion_t2i.config.trunk_config import TrunkConfig

__all__ = [
    "Config",
    "DataConfig",
    "ExportConfig",
    "ModelConfig",
    "PRESETS",
    "RuntimeConfig",
    "TextConfig",
    "TrainConfig",
    "TrunkConfig",
    "get_preset",
]
