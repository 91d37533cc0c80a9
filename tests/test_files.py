"""fashion_t2i.files: atomic writes of files and directories."""

import json
import os

import pytest

from fashion_t2i import files


class Interrupted(Exception):
    """Stands for whatever stops a writer mid-block."""


def test_write_text_writes_utf8_and_leaves_only_the_file(tmp_path):
    path = tmp_path / "notes.txt"

    files.write_text(str(path), "robe rouge \u00e0 pois\n")

    assert path.read_bytes() == "robe rouge \u00e0 pois\n".encode("utf-8")
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_write_text_replaces_an_existing_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")

    files.write_text(str(path), "new")

    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_write_text_creates_missing_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "notes.txt"

    files.write_text(str(path), "x")

    assert path.read_text() == "x"


def test_write_json_is_indented_key_sorted_and_newline_terminated(tmp_path):
    path = tmp_path / "config.json"

    files.write_json(str(path), {"b": [1, 2], "a": {"d": None, "c": "z"}})

    assert path.read_text() == (
        "{\n"
        '  "a": {\n'
        '    "c": "z",\n'
        '    "d": null\n'
        "  },\n"
        '  "b": [\n'
        "    1,\n"
        "    2\n"
        "  ]\n"
        "}\n"
    )
    assert json.loads(path.read_text()) == {"a": {"c": "z", "d": None}, "b": [1, 2]}


def test_a_failing_block_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("old")

    with pytest.raises(Interrupted, match="disk full"):
        with files.atomic_path(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half of the new")
            raise Interrupted("disk full")

    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["weights.h5"]


def test_a_failing_block_without_an_old_file_leaves_nothing(tmp_path):
    path = tmp_path / "weights.h5"

    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise KeyboardInterrupt

    assert os.listdir(tmp_path) == []


def test_the_new_file_appears_only_when_the_block_ends(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")

    with files.atomic_path(str(path)) as tmp:
        with open(tmp, "w") as f:
            f.write("new")
        # Mid-block a reader still sees the old file; the temporary is hidden.
        assert path.read_text() == "old"
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith(".")

    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_directory_target_appears_whole(tmp_path):
    target = tmp_path / "model" / "3"

    with files.atomic_path(str(target)) as tmp:
        os.makedirs(os.path.join(tmp, "variables"))
        with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
            f.write("graph")
        assert not target.exists()

    assert sorted(os.listdir(target)) == ["saved_model.pb", "variables"]
    assert os.listdir(tmp_path / "model") == ["3"]


def test_a_failing_directory_block_removes_the_partial_directory(tmp_path):
    target = tmp_path / "model" / "3"

    with pytest.raises(Interrupted):
        with files.atomic_path(str(target)) as tmp:
            os.makedirs(os.path.join(tmp, "variables"))
            with open(os.path.join(tmp, "variables", "part"), "w") as f:
                f.write("half")
            raise Interrupted("killed")

    assert os.listdir(tmp_path / "model") == []


def test_a_non_empty_directory_is_never_replaced(tmp_path):
    target = tmp_path / "3"
    target.mkdir()
    (target / "saved_model.pb").write_text("old graph")

    with pytest.raises(OSError):
        with files.atomic_path(str(target)) as tmp:
            os.makedirs(tmp)
            with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
                f.write("new graph")

    assert (target / "saved_model.pb").read_text() == "old graph"
    assert os.listdir(tmp_path) == ["3"]


def test_a_stale_temporary_of_a_crashed_writer_is_cleared(tmp_path):
    path = tmp_path / "notes.txt"
    with files.atomic_path(str(path)) as tmp:
        with open(tmp, "w") as f:
            f.write("old")
        stale = tmp
    # A writer of this process id died before its rename.
    os.makedirs(os.path.join(stale, "leftover"))

    files.write_text(str(path), "new")

    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["notes.txt"]
