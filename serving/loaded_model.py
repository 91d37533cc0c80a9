"""One loaded version of a SavedModel: its signature defs and callable signatures."""

import os

import tensorflow as tf

# The exported graph normalises text with tensorflow-text ops (TF Serving links
# them); importing the package registers those ops before a load needs them.
import tensorflow_text  # noqa: F401
from tensorflow.core.protobuf import saved_model_pb2

SERVING_TAG = "serve"
SAVED_MODEL_FILE = "saved_model.pb"


class LoadedModel:
    """A SavedModel version held in memory, as TF Serving holds a servable.

    `signature_defs` are read from `saved_model.pb` (the MetaGraphDef tagged
    "serve", as TF Serving loads it), so metadata and input validation see
    exactly what TF Serving would see; `signatures` are the callable concrete
    functions from `tf.saved_model.load`.

    Args:
        version: the version number (the directory name).
        path: the version directory.
        signature_defs: dict signature name -> `SignatureDef` proto.
        signatures: dict signature name -> concrete function taking the
            signature's inputs as keyword arguments.
    """

    def __init__(self, version, path, signature_defs, signatures):
        self.version = version
        self.path = path
        self.signature_defs = signature_defs
        self.signatures = signatures

    @classmethod
    def load(cls, path, version):
        """Loads the SavedModel in `path`.

        Args:
            path: a version directory holding `saved_model.pb`.
            version: its version number.

        Returns:
            A `LoadedModel`.

        Raises:
            ValueError: the SavedModel has no MetaGraphDef tagged "serve".
            OSError, tf.errors.OpError: the directory is incomplete or corrupt.
        """
        saved_model = saved_model_pb2.SavedModel()
        with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as f:
            saved_model.ParseFromString(f.read())
        meta_graphs = [m for m in saved_model.meta_graphs if SERVING_TAG in m.meta_info_def.tags]
        if not meta_graphs:
            raise ValueError(
                f"{path} has no MetaGraphDef tagged {SERVING_TAG!r}; export it with "
                "tf.saved_model.save (or keras ExportArchive), which tags it so."
            )
        loaded = tf.saved_model.load(path, tags=[SERVING_TAG])
        return cls(
            version=version,
            path=path,
            signature_defs=dict(meta_graphs[0].signature_def),
            signatures=dict(loaded.signatures),
        )

    def run(self, signature_name, inputs):
        """Runs one signature.

        Args:
            signature_name: a key of `signatures`.
            inputs: dict input alias -> numpy array of the signature's dtype.

        Returns:
            dict output alias -> numpy array.

        Raises:
            tf.errors.OpError: the graph rejected the inputs.
        """
        signature_def = self.signature_defs[signature_name]
        feeds = {
            alias: tf.constant(value, dtype=tf.dtypes.as_dtype(signature_def.inputs[alias].dtype))
            for alias, value in inputs.items()
        }
        outputs = self.signatures[signature_name](**feeds)
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}
