"""Small file helpers."""

import json
import os


def write_json(path, value):
    """Writes `value` as JSON to `path` atomically (temporary file, then rename).

    A reader never sees a half-written file, even if the process dies mid-write.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
