"""Tests of export.op_check: which SavedModel ops TF Serving can run."""

import os
import subprocess
import sys

import pytest
import serving_fixtures
import tensorflow as tf
import tensorflow_text as tf_text

from export import op_check

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_module(path, function):
    """Saves a tf.Module whose serving_default signature is `function`."""
    module = tf.Module()
    module.serve = tf.function(function, input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


@pytest.fixture(scope="module")
def stand_in_model(tmp_path_factory):
    return serving_fixtures.build_stand_in_model(str(tmp_path_factory.mktemp("stand_in") / "1"))


def test_saved_model_ops_reads_graph_and_function_library(stand_in_model):
    ops = op_check.saved_model_ops(stand_in_model)

    # Top-level graph nodes and ops inside the signature functions.
    assert {"StatefulPartitionedCall", "Placeholder", "EncodePng", "StringToHashBucketFast"} <= set(ops)
    assert not [op for op in ops if op.startswith("__inference")]


def test_stand_in_model_ops_are_all_supported(stand_in_model):
    assert op_check.unsupported_ops(stand_in_model) == []
    assert op_check.check(stand_in_model) == 0


def test_core_ops_come_from_a_process_without_tensorflow_text():
    # This process imported tensorflow_text, which registered its ops here.
    core = op_check.core_tensorflow_ops()

    assert {"EncodePng", "StringSplitV2", "UnicodeTranscode"} <= core
    assert "NormalizeUTF8" not in core and "UnicodeScriptTokenizeWithOffsets" not in core


def test_py_function_is_reported(tmp_path, capsys):
    def with_py_function(texts):
        return {"lengths": tf.py_function(lambda t: tf.strings.length(t), [texts], tf.int32)}

    path = save_module(str(tmp_path / "py_function"), with_py_function)

    assert op_check.unsupported_ops(path) == ["EagerPyFunc"]
    assert op_check.check(path) == 1
    assert "EagerPyFunc\tUNSUPPORTED" in capsys.readouterr().out


@pytest.mark.slow
def test_command_line_accepts_ops_named_by_allow(tmp_path):
    def with_py_function(texts):
        return {"lengths": tf.py_function(lambda t: tf.strings.length(t), [texts], tf.int32)}

    path = save_module(str(tmp_path / "py_function"), with_py_function)
    command = [sys.executable, "-m", "export.op_check", path]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    def run(*flags):
        return subprocess.run(
            command + list(flags), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    allowed = run("--allow=EagerPyFunc")
    assert allowed.returncode == 0, allowed.stderr
    assert "EagerPyFunc\tallowed by --allow" in allowed.stdout
    assert run().returncode == 1
    no_directory = run(str(tmp_path))
    assert no_directory.returncode == 2
    assert "Pass one SavedModel version directory" in no_directory.stderr


def test_permitted_text_ops_pass_and_others_are_reported(tmp_path):
    def normalise(texts):
        return {"texts": tf_text.case_fold_utf8(tf_text.normalize_utf8(texts, "NFKC"))}

    def script_tokenize(texts):
        return {"tokens": tf_text.UnicodeScriptTokenizer().tokenize(texts).to_tensor()}

    permitted = save_module(str(tmp_path / "normalise"), normalise)
    other = save_module(str(tmp_path / "script"), script_tokenize)

    assert {"NormalizeUTF8", "CaseFoldUTF8"} <= set(op_check.saved_model_ops(permitted))
    assert op_check.unsupported_ops(permitted) == []
    assert op_check.unsupported_ops(other) == ["UnicodeScriptTokenizeWithOffsets"]
    assert op_check.unsupported_ops(other, extra_allowed=["UnicodeScriptTokenizeWithOffsets"]) == []


def test_missing_saved_model_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="version directory"):
        op_check.saved_model_ops(str(tmp_path))
    assert op_check.check(str(tmp_path)) == 2
    assert "No saved_model.pb" in capsys.readouterr().err
