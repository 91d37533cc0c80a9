"""export.export_lib: version numbering, refusing an existing version, atomic writes."""

import json
import os

import pytest

from export import export_lib
from fashion_t2i.config import Config
from fashion_t2i.config import get_preset
from fashion_t2i.text import vocabulary as vocabulary_lib
from fashion_t2i.text_to_image import TextToImage

MODEL_NAME = "fashion_t2i"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained `TextToImage` of the smoke preset (16/32 px)."""
    path = str(tmp_path_factory.mktemp("vocab") / vocabulary_lib.FILENAME)
    captions = ["red striped dress", "blue plain sneaker"]
    vocabulary_lib.save_vocabulary(vocabulary_lib.build_vocabulary(captions), path)
    return TextToImage.from_config(get_preset("smoke"), path, max_batch=4)


def test_next_version_of_a_missing_or_empty_directory_is_1(tmp_path):
    assert export_lib.next_version(str(tmp_path / "absent")) == 1
    assert export_lib.next_version(str(tmp_path)) == 1


def test_next_version_follows_the_largest_number_and_ignores_other_names(tmp_path):
    for name in ["1", "2", "7", "latest", "v9", "12b", ".8.4242.tmp", ".13.99.tmp"]:
        (tmp_path / name).mkdir()

    assert export_lib.next_version(str(tmp_path)) == 8


def test_next_version_compares_numbers_not_strings(tmp_path):
    for name in ["9", "10"]:
        (tmp_path / name).mkdir()

    assert export_lib.next_version(str(tmp_path)) == 11


def test_an_existing_version_is_refused(model, tmp_path):
    existing = tmp_path / MODEL_NAME / "3"
    existing.mkdir(parents=True)
    (existing / "saved_model.pb").write_text("earlier export")

    with pytest.raises(FileExistsError, match=r"3 exists; pass another --version"):
        export_lib.export_saved_model(model, str(tmp_path), MODEL_NAME, version=3)

    assert (existing / "saved_model.pb").read_text() == "earlier export"
    assert os.listdir(tmp_path / MODEL_NAME) == ["3"]


@pytest.mark.slow
def test_an_export_failing_midway_leaves_nothing_behind(model, tmp_path, monkeypatch):
    # The SavedModel is written; the config copy after it fails half-way.
    def write_half_then_fail(config, directory):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w") as f:
            f.write('{"preset": ')
        raise OSError("disk full")

    monkeypatch.setattr(Config, "save", write_half_then_fail)
    (tmp_path / MODEL_NAME / "1").mkdir(parents=True)

    with pytest.raises(OSError, match="disk full"):
        export_lib.export_saved_model(model, str(tmp_path), MODEL_NAME)

    # Version 2 was being written: neither it nor its hidden temporary remains.
    assert os.listdir(tmp_path / MODEL_NAME) == ["1"]


@pytest.mark.slow
def test_a_successful_export_leaves_exactly_the_version_directory(model, tmp_path):
    final = export_lib.export_saved_model(model, str(tmp_path), MODEL_NAME)

    assert final == os.path.join(str(tmp_path), MODEL_NAME, "1")
    assert os.listdir(tmp_path) == [MODEL_NAME]
    assert os.listdir(tmp_path / MODEL_NAME) == ["1"]
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(final))
    with open(os.path.join(final, "assets.extra", "config.json")) as f:
        assert json.load(f)["preset"] == "smoke"
    assert export_lib.next_version(str(tmp_path / MODEL_NAME)) == 2


def test_every_weight_is_stored_once_and_served_with_its_value(model, tmp_path):
    import numpy as np
    import tensorflow as tf

    final = export_lib.export_saved_model(model, str(tmp_path), MODEL_NAME)

    reader = tf.train.load_checkpoint(os.path.join(final, "variables", "variables"))
    stored = sum(
        int(np.prod(shape))
        for key, shape in reader.get_variable_to_shape_map().items()
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH"
    )
    weights = model.text_encoder.weights + model.generator.weights
    assert stored == sum(int(np.prod(w.shape)) for w in weights)
    # The loaded graph reads the exported values: the same images as in Python.
    loaded = tf.saved_model.load(final)
    texts, seeds = tf.constant(["red striped dress"]), tf.constant([3], tf.int64)
    np.testing.assert_array_equal(
        loaded.signatures["generate"](texts=texts, seeds=seeds)["images"].numpy(),
        model.generate(texts, seeds)["images"].numpy(),
    )
