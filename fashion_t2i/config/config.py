"""The full configuration of one run: one typed config per concern."""

import dataclasses
import json
import os

from fashion_t2i import files
from fashion_t2i.config.data_config import DataConfig
from fashion_t2i.config.export_config import ExportConfig
from fashion_t2i.config.model_config import ModelConfig
from fashion_t2i.config.runtime_config import RuntimeConfig
from fashion_t2i.config.text_config import TextConfig
from fashion_t2i.config.train_config import TrainConfig
from fashion_t2i.config.trunk_config import TrunkConfig

CONFIG_FILENAME = "config.json"

_SECTIONS = {
    "data": DataConfig,
    "text": TextConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "trunk": TrunkConfig,
    "export": ExportConfig,
    "runtime": RuntimeConfig,
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run; written as JSON next to every artefact."""

    preset: str = "custom"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    text: TextConfig = dataclasses.field(default_factory=TextConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    trunk: TrunkConfig = dataclasses.field(default_factory=TrunkConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def replace(self, **sections):
        """Returns a copy with fields replaced, e.g. `replace(train={"gan_steps": 5})`.

        Each keyword names a section; its value is a dict of that section's
        fields to replace (or a whole section object).
        """
        updates = {}
        for name, value in sections.items():
            if name == "preset":
                updates[name] = value
                continue
            if name not in _SECTIONS:
                raise ValueError(f"Unknown config section {name!r}; known: {sorted(_SECTIONS)}.")
            if isinstance(value, dict):
                value = _replace_fields(getattr(self, name), value, name)
            updates[name] = value
        return dataclasses.replace(self, **updates)

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        values = dict(values)
        preset = values.pop("preset", "custom")
        sections = {}
        for name, section_cls in _SECTIONS.items():
            sections[name] = section_cls(**_known_fields(section_cls, values.pop(name, {}), name))
        if values:
            raise ValueError(f"Unknown config sections: {sorted(values)}.")
        return cls(preset=preset, **sections)

    def save(self, directory):
        """Writes `config.json` in `directory` atomically; returns its path."""
        path = os.path.join(directory, CONFIG_FILENAME)
        files.write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path):
        """Reads a config from a JSON file, or from `config.json` in a directory."""
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_FILENAME)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No config file at {path}.")
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} is not valid JSON: {e}") from e
        return cls.from_dict(values)


def _field_names(section_cls):
    return {f.name for f in dataclasses.fields(section_cls)}


def _known_fields(section_cls, values, section):
    unknown = set(values) - _field_names(section_cls)
    if unknown:
        raise ValueError(
            f"Unknown {section} config fields {sorted(unknown)}; "
            f"known: {sorted(_field_names(section_cls))}."
        )
    return values


def _replace_fields(section_obj, values, section):
    return dataclasses.replace(section_obj, **_known_fields(type(section_obj), values, section))
