"""Atomic writes: a reader never sees a half-written file or directory."""

import contextlib
import json
import os
import shutil


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, renamed to `path` when the block succeeds.

    Whatever the block writes there (a file or a whole directory) appears
    under `path` in one rename, so a process that dies mid-write leaves the
    previous `path` (or none) behind, never a partial one. On an exception
    the temporary file or directory is removed and the exception goes on.
    The temporary name is hidden and holds the process id, so concurrent
    writers never share it, and a directory scanner that only looks at
    numbered or named entries (TF Serving, `tf.train.latest_checkpoint`)
    never picks it up.

    Example:
        with atomic_path("out/model.h5") as tmp:
            write_model(tmp)
    """
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path, value):
    """Writes `value` as indented, key-sorted JSON to `path` atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
