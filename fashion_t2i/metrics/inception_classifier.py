"""ImageNet Inception classifier giving class probabilities and pool features."""

import os

import keras
import numpy as np
import tensorflow as tf

SOURCES = ("keras", "hub")
INCEPTION_SIZE = 299
# Output names of the TF-GAN Inception module
# (https://tfhub.dev/tensorflow/tfgan/eval/inception/1).
HUB_LOGITS = "logits"
HUB_POOL = "pool_3"
# Float images may overshoot [-1, 1] by rounding (e.g. after a tanh in float16).
_RANGE_TOLERANCE = 1e-3
# `predict(verbose="auto")` shows progress from this many batches on.
_AUTO_PROGRESS_BATCHES = 10


class InceptionClassifier:
    """InceptionV3 class probabilities and 2048-d pool features of images.

    The classifier behind the Inception Score (probabilities) and the FID
    (pool features). Images of any size are resized bilinearly to 299x299
    and run in batches. Two back-ends:

    - `source="keras"`: `keras.applications.InceptionV3` with its 1000-way
      softmax (`predictions`) and the global average pool before it
      (`avg_pool`) as the two outputs of one Keras model.
    - `source="hub"`: a TF-GAN style Inception module loaded with
      `tensorflow_hub.load(handle)`: its `default` (TF1 Hub) or
      `serving_default` (TF2 SavedModel) signature takes float32
      `[B, 299, 299, 3]` images in [-1, 1] and returns a dict with `logits`
      `[B, 1008]` and `pool_3` `[B, 2048]`; probabilities are
      `softmax(logits)`. This is the graph of the original Inception Score
      and FID code, so its numbers are the ones comparable with papers.

    Both take images in [-1, 1]; the Keras model is trained on that range
    (`inception_v3.preprocess_input` maps [0, 255] to it).

    Args:
        source: `"keras"` or `"hub"`.
        weights: Keras back-end only: `"imagenet"` (downloaded by Keras on
            first use), the path of a local Keras InceptionV3 weights file
            with the classification top
            (`inception_v3_weights_tf_dim_ordering_tf_kernels.h5`), or `None`
            for random weights (tests only: the scores mean nothing).
        handle: hub back-end only: a TF-Hub URL (downloaded on first use) or
            a local directory holding the module.

    Raises:
        ValueError: unknown `source`, `handle` given with the wrong source or
            missing for `"hub"`, or a hub module without the expected
            signature or outputs (the message names the missing output).
        FileNotFoundError: a local weights file or module directory does
            not exist.

    Example:
        >>> classifier = InceptionClassifier(source="keras", weights=None)
        >>> probabilities, pool = classifier.predict(images)  # doctest: +SKIP
        >>> probabilities.shape, pool.shape  # doctest: +SKIP
        ((N, 1000), (N, 2048))
    """

    def __init__(self, source="keras", weights="imagenet", handle=None):
        self.source = source
        self.weights = weights
        self.handle = handle
        if source == "keras":
            if handle is not None:
                raise ValueError("handle is for source='hub'; source='keras' takes weights.")
            forward = self._build_keras()
        elif source == "hub":
            if not handle:
                raise ValueError(
                    "source='hub' needs handle=<TF-Hub URL or local module directory>."
                )
            forward = self._load_hub()
        else:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def predict_batch(images):
            return forward(tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE)))

        self._predict_batch = predict_batch

    def predict(self, images, batch_size=64, verbose="auto"):
        """Class probabilities and pool features of a set of images.

        Args:
            images: `[N, H, W, 3]` array-like supporting `len()` and slicing
                (a numpy array or an h5py dataset, read one batch at a time):
                float in [-1, 1], or uint8 in [0, 255] (mapped to
                `x / 127.5 - 1`).
            batch_size: images per forward pass.
            verbose: whether to show a progress bar; `"auto"` shows it for
                more than 10 batches.

        Returns:
            `(probabilities, pool_features)`: float32 numpy arrays of shape
            `[N, C]` (C = 1000 for Keras, 1008 for the TF-GAN module; rows
            sum to 1) and `[N, 2048]`.

        Raises:
            ValueError: no images, a batch is not `[B, H, W, 3]`, has an
                unsupported dtype, or has float values outside [-1, 1].
        """
        num_images = len(images)
        if num_images == 0:
            raise ValueError("predict() needs at least one image.")
        num_batches = -(-num_images // batch_size)
        if verbose == "auto":
            show_progress = num_batches > _AUTO_PROGRESS_BATCHES
        else:
            show_progress = bool(verbose)
        progress = keras.utils.Progbar(num_images) if show_progress else None
        probabilities, pool_features = [], []
        for start in range(0, num_images, batch_size):
            batch = _to_unit_range(np.asarray(images[start : start + batch_size]))
            batch_probabilities, batch_pool = self._predict_batch(tf.constant(batch))
            probabilities.append(batch_probabilities.numpy())
            pool_features.append(batch_pool.numpy())
            if progress is not None:
                progress.update(min(start + batch_size, num_images))
        return np.concatenate(probabilities), np.concatenate(pool_features)

    def _build_keras(self):
        """Keras InceptionV3 with outputs (softmax, avg_pool); returns its forward fn."""
        if self.weights not in ("imagenet", None) and not os.path.exists(self.weights):
            raise FileNotFoundError(
                f"InceptionV3 weights file not found: {self.weights}. Pass the Keras "
                "file with the top (inception_v3_weights_tf_dim_ordering_tf_kernels.h5), "
                "weights='imagenet' to download it, or weights=None for random weights."
            )
        base = keras.applications.InceptionV3(
            include_top=True,
            weights=self.weights,
            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            classifier_activation="softmax",
        )
        model = keras.Model(
            base.input,
            [base.get_layer("predictions").output, base.get_layer("avg_pool").output],
            name="inception_classifier",
        )

        def forward(images):
            probabilities, pool = model(images, training=False)
            return probabilities, pool

        return forward

    def _load_hub(self):
        """Loads the TF-GAN style module and checks its signature; returns its forward fn."""
        if "://" not in self.handle and not os.path.exists(self.handle):
            raise FileNotFoundError(
                f"Inception module directory not found: {self.handle}. Pass a TF-Hub "
                "URL or the directory of a downloaded module."
            )
        # Imported here: tensorflow_hub pulls in tf_keras, which only the hub
        # back-end needs.
        import tensorflow_hub as hub

        module = hub.load(self.handle)
        signatures = getattr(module, "signatures", {})
        name = next((k for k in ("default", "serving_default") if k in signatures), None)
        if name is None:
            raise ValueError(
                f"{self.handle} has no 'default' or 'serving_default' signature "
                f"(found {sorted(signatures)})."
            )
        signature = signatures[name]
        _, input_specs = signature.structured_input_signature
        if len(input_specs) != 1:
            raise ValueError(
                f"The '{name}' signature of {self.handle} must take one image input, "
                f"it takes {sorted(input_specs)}."
            )
        (input_name,) = input_specs
        outputs = signature.structured_outputs
        for key in (HUB_LOGITS, HUB_POOL):
            if key not in outputs:
                raise ValueError(
                    f"The '{name}' signature of {self.handle} has no '{key}' output "
                    f"(outputs: {sorted(outputs)}); expected a TF-GAN Inception module "
                    f"returning '{HUB_LOGITS}' and '{HUB_POOL}'."
                )
        # Hold the loaded object: it owns the variables the signature reads.
        self._module = module

        def forward(images):
            outputs = signature(**{input_name: images})
            # The original graph's pool_3 is [B, 1, 1, 2048]; the TF-GAN module's is [B, 2048].
            pool = tf.reshape(outputs[HUB_POOL], (tf.shape(images)[0], -1))
            return tf.nn.softmax(outputs[HUB_LOGITS]), pool

        return forward


def _to_unit_range(batch):
    """Checks a batch of images and returns it as float32 in [-1, 1]."""
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got a batch of shape {batch.shape}.")
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(batch.dtype, np.floating):
        raise ValueError(
            f"images must be float in [-1, 1] or uint8 in [0, 255], got dtype {batch.dtype}."
        )
    low, high = float(batch.min()), float(batch.max())
    if low < -1 - _RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"Float images must be in [-1, 1], got values in [{low:.3f}, {high:.3f}]; "
            "map [0, 255] with x / 127.5 - 1 or pass uint8."
        )
    return batch.astype(np.float32)
