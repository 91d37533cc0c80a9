"""Tests of the typed, frozen configs and the named presets."""

import dataclasses
import json

import pytest

from fashion_t2i.config import (
    PRESETS,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    get_preset,
)
from fashion_t2i.config.config import CONFIG_FILENAME


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds(name):
    config = get_preset(name)
    assert isinstance(config, Config)
    assert config.preset == name
    assert isinstance(config.data, DataConfig)
    assert isinstance(config.model, ModelConfig)


def test_presets_are_the_documented_four():
    assert sorted(PRESETS) == ["catalogue", "demo", "fashiongen", "smoke"]


def test_catalogue_preset_fits_a_shop_on_a_cpu():
    config = get_preset("catalogue")
    # 64 px designs from a 32 px layout; no ImageNet download: random weights,
    # trunk trained in the DAMSM phase.
    assert config.model.stage_sizes == (32, 64)
    assert config.model.image_encoder_weights == "" and config.model.train_image_trunk
    assert config.model.image_encoder_size == 75
    # The files README's walk-through converts; flags override them.
    assert config.data.train_path == "data/catalogue_train.h5"
    assert config.data.validation_path == "data/catalogue_validation.h5"
    assert config.data.batch_size <= 16
    assert config.train.damsm_steps + config.train.gan_steps <= 10_000
    assert config.train.eval_every <= config.train.gan_steps


def test_smoke_preset_is_tiny():
    config = get_preset("smoke")
    assert config.model.stage_sizes[-1] <= 64
    assert config.data.batch_size <= 8
    assert config.train.gan_steps <= 5


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip_equals(name):
    config = get_preset(name)
    restored = Config.from_dict(json.loads(config.to_json()))
    assert restored == config
    assert restored.preset == name


def test_to_json_is_sorted_and_complete():
    values = json.loads(Config().to_json())
    assert set(values) == {
        "preset", "data", "text", "model", "train", "trunk", "export", "runtime"
    }
    assert values["train"]["gan_steps"] == TrainConfig().gan_steps
    assert values["model"]["stage1_size"] == ModelConfig().stage1_size


def test_from_dict_fills_missing_sections_with_defaults():
    config = Config.from_dict({"preset": "partial", "train": {"gan_steps": 7}})
    assert config.preset == "partial"
    assert config.train.gan_steps == 7
    assert config.train.damsm_steps == TrainConfig().damsm_steps
    assert config.model == ModelConfig()


def test_save_load_round_trip(tmp_path):
    config = get_preset("smoke").replace(train={"gan_steps": 3})
    path = config.save(str(tmp_path / "run"))
    assert path == str(tmp_path / "run" / CONFIG_FILENAME)
    assert Config.load(path) == config
    # A directory holding config.json loads too.
    assert Config.load(str(tmp_path / "run")) == config
    # No temporary file is left behind by the atomic write.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [CONFIG_FILENAME]


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="No config file"):
        Config.load(str(tmp_path / "nowhere.json"))


def test_load_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON") as info:
        Config.load(str(path))
    assert str(path) in str(info.value)


def test_replace_one_field():
    config = get_preset("smoke")
    changed = config.replace(train={"gan_steps": 5})
    assert changed.train.gan_steps == 5
    # Everything else is kept, and the original is unchanged (frozen).
    assert changed.train.damsm_steps == config.train.damsm_steps
    assert changed.model == config.model
    assert changed.preset == config.preset
    assert config.train.gan_steps == 2
    assert changed != config


def test_replace_whole_section_and_preset():
    config = Config().replace(preset="mine", model=ModelConfig(joint_dim=32))
    assert config.preset == "mine"
    assert config.model.joint_dim == 32


def test_configs_are_frozen():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'preset'"):
        config.preset = "other"
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'gan_steps'"):
        config.train.gan_steps = 3


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown preset 'tiny'") as info:
        get_preset("tiny")
    for name in PRESETS:
        assert name in str(info.value)


def test_unknown_section_raises():
    with pytest.raises(ValueError, match="Unknown config section 'optim'"):
        Config().replace(optim={"lr": 1.0})
    with pytest.raises(ValueError, match="Unknown config sections.*optim"):
        Config.from_dict({"optim": {}})


def test_unknown_field_names_the_section_and_field():
    with pytest.raises(ValueError, match=r"Unknown train config fields \['gan_step'\]") as info:
        Config().replace(train={"gan_step": 5})
    # The message lists the known fields, so a typo is easy to fix.
    assert "gan_steps" in str(info.value)
    with pytest.raises(ValueError, match=r"Unknown model config fields \['bogus'\]"):
        Config.from_dict({"model": {"bogus": 1}})


@pytest.mark.parametrize(
    "section, field, value, known",
    [
        ("model", "similarity", "cosine", "t2i"),
        ("model", "region_layer", "mixed5", "mixed7"),
        ("model", "similarity_attention", "scan", "cosine"),
        ("data", "on_bad_caption", "ignore", "skip"),
        ("data", "encoding", "utf8", "latin-1"),
        ("train", "phase", "finetune", "damsm"),
        ("train", "on_nan", "ignore", "stop"),
        ("runtime", "strategy", "horovod", "multi_worker"),
        ("runtime", "mixed_precision", "fp8", "bfloat16"),
    ],
)
def test_bad_enum_values_raise_with_choices(section, field, value, known):
    with pytest.raises(ValueError, match=rf"\.{field} must be one of .*, got '{value}'") as info:
        Config().replace(**{section: {field: value}})
    message = str(info.value)
    assert field in message
    assert repr(value) in message
    assert known in message
    # Also when the bad value comes from a saved config file.
    with pytest.raises(ValueError, match=field):
        Config.from_dict({section: {field: value}})


@pytest.mark.parametrize("size", [0, 2, 3, 12, 48, 96, -8])
def test_stage1_size_must_be_four_times_power_of_two(size):
    with pytest.raises(ValueError, match=r"stage1_size must be 4 \* 2\*\*k") as info:
        ModelConfig(stage1_size=size)
    assert str(size) in str(info.value)


@pytest.mark.parametrize("size", [4, 8, 16, 64, 256])
def test_stage1_size_accepts_powers_of_two_from_four(size):
    assert ModelConfig(stage1_size=size).stage1_size == size


def test_joint_dim_must_be_even():
    with pytest.raises(ValueError, match="joint_dim must be even, got 17"):
        ModelConfig(joint_dim=17)
    assert ModelConfig(joint_dim=18).joint_dim == 18


def test_image_encoder_size_at_least_75():
    with pytest.raises(ValueError, match="image_encoder_size must be >= 75.*got 74"):
        ModelConfig(image_encoder_size=74)
    assert ModelConfig(image_encoder_size=75).image_encoder_size == 75


def test_stage_sizes():
    assert ModelConfig(stage1_size=64, num_refinement_stages=1).stage_sizes == (64, 128)
    assert ModelConfig(stage1_size=64, num_refinement_stages=2).stage_sizes == (64, 128, 256)
    assert ModelConfig(stage1_size=16, num_refinement_stages=0).stage_sizes == (16,)
    assert get_preset("smoke").model.stage_sizes == (16, 32)
    assert get_preset("catalogue").model.stage_sizes == (32, 64)
    assert get_preset("fashiongen").model.stage_sizes == (64, 128, 256)


def test_negative_cpu_device_count_raises():
    with pytest.raises(ValueError, match="num_cpu_devices"):
        Config().replace(runtime={"num_cpu_devices": -1})


def test_runtime_is_not_an_architecture_section():
    # A run may resume on other devices or precision: resume must not refuse it.
    from fashion_t2i.run_context import ARCHITECTURE_SECTIONS

    assert "runtime" not in ARCHITECTURE_SECTIONS


def test_auxiliary_attributes_are_distinct_known_names_and_survive_json(tmp_path):
    config = get_preset("smoke").replace(model={"auxiliary_attributes": ["class", "colour"]})
    assert config.model.auxiliary_attributes == ("class", "colour")
    config.save(str(tmp_path))
    assert Config.load(str(tmp_path / "config.json")) == config
    for bad in (("class", "class"), ("size",)):
        with pytest.raises(ValueError, match="auxiliary_attributes"):
            get_preset("smoke").replace(model={"auxiliary_attributes": bad})


def test_hard_mismatch_needs_the_mismatch_term():
    with pytest.raises(ValueError, match="hard_mismatch needs mismatch_term"):
        Config().replace(train={"hard_mismatch": True, "mismatch_term": False})
    assert Config().replace(train={"hard_mismatch": True}).train.hard_mismatch


@pytest.mark.parametrize("mode", ["projected", "projected_offsets", "table_and_projected"])
def test_projected_embedding_needs_word_vectors(mode):
    message = rf"embedding_mode='{mode}' needs word vectors: .*\(--word_vectors\)"
    with pytest.raises(ValueError, match=message):
        ModelConfig(embedding_mode=mode)
    config = ModelConfig(embedding_mode=mode, word_vectors_path="glove-6b-50d")
    assert config.embedding_mode == mode and config.word_vectors_dim == 50


def test_unknown_embedding_mode_lists_the_modes():
    message = r"embedding_mode must be one of .*'projected_offsets'.*got 'frozen'"
    with pytest.raises(ValueError, match=message):
        ModelConfig(embedding_mode="frozen", word_vectors_path="glove-6b-50d")


def test_word_vectors_dim_must_be_positive():
    with pytest.raises(ValueError, match=r"word_vectors_dim must be >= 1, got 0"):
        ModelConfig(word_vectors_dim=0)


def test_pretrained_words_must_not_be_negative():
    with pytest.raises(ValueError, match=r"pretrained_words must be >= 0, got -1"):
        Config().replace(text={"pretrained_words": -1})
    assert Config().replace(text={"pretrained_words": 0}).text.pretrained_words == 0


def test_word_table_dropout_needs_table_and_projected_and_a_rate_below_one():
    with pytest.raises(ValueError, match=r"word_table_dropout needs embedding_mode='table_and_projected'"):
        ModelConfig(
            embedding_mode="projected", word_vectors_path="glove-6b-50d", word_table_dropout=0.5
        )
    with pytest.raises(ValueError, match=r"word_table_dropout must be in \[0, 1\), got 1.0"):
        ModelConfig(
            embedding_mode="table_and_projected", word_vectors_path="glove-6b-50d",
            word_table_dropout=1.0,
        )
    config = ModelConfig(
        embedding_mode="table_and_projected", word_vectors_path="glove-6b-50d",
        word_table_dropout=0.5,
    )
    assert config.word_table_dropout == 0.5


def test_unseen_words_needs_a_known_mode_and_table_and_projected():
    with pytest.raises(ValueError, match=r"unseen_words must be one of \('none', 'vectors', 'vectors_and_colours', 'vectors_colours_and_senses', 'vectors_colours_senses_and_images'\), got 'all'"):
        ModelConfig(
            embedding_mode="table_and_projected", word_vectors_path="glove-6b-50d",
            unseen_words="all",
        )
    with pytest.raises(ValueError, match=r"unseen_words needs embedding_mode='table_and_projected', got 'projected'"):
        ModelConfig(
            embedding_mode="projected", word_vectors_path="glove-6b-50d", unseen_words="vectors"
        )
    assert ModelConfig().unseen_words == "none"
    for preset in ("demo", "catalogue", "fashiongen"):
        assert get_preset(preset).model.unseen_words == "vectors_colours_senses_and_images"


@pytest.mark.parametrize("name", ["checkpoint_every", "log_every", "max_checkpoints"])
def test_cadences_that_cannot_be_off_must_be_positive(name):
    with pytest.raises(ValueError, match=rf"TrainConfig.{name} must be >= 1"):
        TrainConfig(**{name: 0})


@pytest.mark.parametrize("name", ["image_every", "eval_every"])
def test_image_and_evaluation_cadences_may_be_off_but_not_negative(name):
    assert getattr(TrainConfig(**{name: 0}), name) == 0
    with pytest.raises(ValueError, match=rf"TrainConfig.{name} must be >= 0 \(0: never\)"):
        TrainConfig(**{name: -1})
