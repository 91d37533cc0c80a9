"""Checks that a SavedModel uses only ops TF Serving can run.

The TF Serving binary cannot be installed on our machines, so an export is
checked statically: every op type in `saved_model.pb` (top-level graph and
every function in its library) must be

- a core TensorFlow op: registered in a process that imported `tensorflow`
  alone (queried in a subprocess, because this process may have imported
  `tensorflow_text`, which registers its own ops), except the `py_function`
  family, whose kernels live in the Python runtime that TF Serving lacks;
- or one of the tensorflow-text ops DESIGN.md permits. TF Serving links all of
  `@org_tensorflow_text//tensorflow_text:ops_lib` (tensorflow/serving
  model_servers/BUILD, SUPPORTED_TENSORFLOW_OPS); the project keeps to the
  normalisation, regex-split and whitespace-tokenizer ops.

Usage:
    python -m export.op_check runs/demo/export/fashion_t2i/1 [--allow=OpName ...]

Exit code 0 if every op is supported, 1 if some are not, 2 if the directory
holds no SavedModel.
"""

import functools
import json
import os
import subprocess
import sys

from absl import app
from absl import flags
from tensorflow.core.protobuf import saved_model_pb2

# normalize_utf8, case_fold_utf8, regex_split, whitespace tokenisation.
TF_SERVING_TEXT_OPS = frozenset(
    {
        "NormalizeUTF8",
        "CaseFoldUTF8",
        "RegexSplitWithOffsets",
        "WhitespaceTokenizeWithOffsets",
        "TFText>WhitespaceTokenizeWithOffsetsV2",
    }
)
# Registered by core TensorFlow, but their kernels call back into Python:
# a model server fails with "No registered 'EagerPyFunc' OpKernel".
PYTHON_RUNTIME_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

_CORE_OPS_SCRIPT = """
import json
import tensorflow
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session
buffer = pywrap_tf_session.TF_GetAllOpList()
op_list = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetBuffer(buffer))
pywrap_tf_session.TF_DeleteBuffer(buffer)
print(json.dumps(sorted(op.name for op in op_list.op)))
"""


def saved_model_ops(path):
    """Lists every op type a SavedModel uses.

    Reads the nodes of each MetaGraphDef's graph and of every function in its
    library; calls of library functions are not ops and are left out.

    Args:
        path: a SavedModel directory (holding `saved_model.pb`).

    Returns:
        Sorted list of op type names.

    Raises:
        FileNotFoundError: `path` holds no `saved_model.pb`.
    """
    pb_path = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(pb_path):
        raise FileNotFoundError(
            f"No saved_model.pb in {path}; pass a version directory such as <base>/fashion_t2i/1."
        )
    saved_model = saved_model_pb2.SavedModel()
    with open(pb_path, "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        library = meta_graph.graph_def.library
        function_names = {function.signature.name for function in library.function}
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in library.function:
            ops.update(node.op for node in function.node_def)
        ops -= function_names
    return sorted(ops)


@functools.lru_cache(maxsize=None)
def core_tensorflow_ops(python=sys.executable):
    """Returns the op registry of a Python process that imported only TensorFlow.

    Args:
        python: the interpreter to ask (the one with the serving TF version).

    Returns:
        frozenset of op type names.

    Raises:
        RuntimeError: the interpreter could not import TensorFlow.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [python, "-c", _CORE_OPS_SCRIPT], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{python} could not list TensorFlow's ops (exit {result.returncode}):\n{result.stderr[-2000:]}\n"
            "Run the check with the project's interpreter (.venv/bin/python)."
        )
    return frozenset(json.loads(result.stdout.strip().splitlines()[-1]))


def allowed_ops(extra_allowed=()):
    """Returns the op types TF Serving can run, per this module's policy.

    Args:
        extra_allowed: further op names to accept (e.g. ops of a custom TF
            Serving build).

    Returns:
        frozenset of op type names.
    """
    return (core_tensorflow_ops() - PYTHON_RUNTIME_OPS) | TF_SERVING_TEXT_OPS | frozenset(extra_allowed)


def unsupported_ops(path, extra_allowed=()):
    """Lists the ops of a SavedModel that TF Serving cannot run.

    Args:
        path: a SavedModel directory.
        extra_allowed: further op names to accept.

    Returns:
        Sorted list of op type names; empty when the model is servable.

    Raises:
        FileNotFoundError: `path` holds no `saved_model.pb`.
    """
    allowed = allowed_ops(extra_allowed)
    return [op for op in saved_model_ops(path) if op not in allowed]


def check(saved_model_dir, extra_allowed=()):
    """Prints a SavedModel's ops and whether TF Serving can run each.

    One `op<TAB>origin` line per op on stdout (origin: core,
    tensorflow-text, allowed by --allow, or UNSUPPORTED), then the verdict
    on stderr.

    Args:
        saved_model_dir: a SavedModel directory.
        extra_allowed: further op names to accept.

    Returns:
        0 if every op is supported, 1 if some are not, 2 if the path holds
        no SavedModel.
    """
    try:
        ops = saved_model_ops(saved_model_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    bad = unsupported_ops(saved_model_dir, extra_allowed=extra_allowed)
    for op in ops:
        if op in bad:
            origin = "UNSUPPORTED"
        elif op in TF_SERVING_TEXT_OPS:
            origin = "tensorflow-text"
        elif op in extra_allowed:
            origin = "allowed by --allow"
        else:
            origin = "core"
        print(f"{op}\t{origin}")
    if bad:
        print(
            f"{len(bad)} of {len(ops)} ops cannot run in TF Serving: {', '.join(bad)}. Rewrite that part of the "
            "serving graph with core TensorFlow ops (no tf.py_function), or pass --allow for ops your TF "
            "Serving build links.",
            file=sys.stderr,
        )
        return 1
    print(f"All {len(ops)} ops can run in TF Serving.", file=sys.stderr)
    return 0


FLAGS = flags.FLAGS


def define_flags():
    """Defines the command line of `python -m export.op_check` in `absl.flags.FLAGS`.

    Called only when this module runs as the program: `python -m export`
    imports the module and must not grow an --allow flag it does not read.
    """
    flags.DEFINE_multi_string("allow", [], "Extra op name to accept; repeatable.")


def main(argv):
    if len(argv) != 2:
        # Exit code 2, as for a directory without a SavedModel: 1 means unsupported ops.
        raise app.UsageError(
            f"Pass one SavedModel version directory, e.g. <base>/fashion_t2i/1; got {argv[1:]}.",
            exitcode=2,
        )
    return check(argv[1], extra_allowed=FLAGS.allow)


if __name__ == "__main__":
    define_flags()
    app.run(main)
