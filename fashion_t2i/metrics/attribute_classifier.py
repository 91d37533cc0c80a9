"""Small CNN predicting product attributes, for text-image agreement and domain FID.

Trained on real images, it measures whether generated images show what their
caption asked for (class and colour accuracy on the embedded data) and its
penultimate embedding gives a domain-specific FID (Fashion-MNIST images are
far from ImageNet, where Inception features are weak).
"""

import os

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="fashion_t2i")
class AttributeClassifier(keras.Model):
    """CNN with one softmax head per attribute.

    Architecture: for each entry of `filters`, two 3x3 conv + batch norm +
    ReLU layers and a 2x2 max pool; then flatten, a dense ReLU embedding of
    `embedding_dim` (returned by `features`, used for the domain FID),
    dropout, and per attribute a dense softmax head. `call` returns a dict
    `{attribute: probabilities [B, num_classes]}`.

    Args:
        heads: dict `{attribute name: number of classes}`, e.g.
            `{"class": 10, "colour": 12, "pattern": 3}`.
        image_size: side of the square input images (e.g. 32 or 64); must
            be at least `2 ** len(filters)`.
        channels: image channels.
        filters: conv width of each block.
        embedding_dim: size of the penultimate embedding.
        dropout: dropout rate between the embedding and the heads.
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Raises:
        ValueError: a head has fewer than 2 classes, `filters` is empty, or
            `image_size` is smaller than `2 ** len(filters)`.

    Example:
        >>> model = AttributeClassifier({"colour": 3, "pattern": 2}, image_size=16)
        >>> outputs = model(np.zeros((2, 16, 16, 3), "float32"))
        >>> sorted((k, tuple(v.shape)) for k, v in outputs.items())
        [('colour', (2, 3)), ('pattern', (2, 2))]
    """

    def __init__(
        self,
        heads,
        image_size,
        channels=3,
        filters=(32, 64),
        embedding_dim=128,
        dropout=0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not heads or any(int(n) < 2 for n in heads.values()):
            raise ValueError(
                f"heads must map each attribute name to >= 2 classes, got {heads!r}."
            )
        if not filters:
            raise ValueError("filters must give the width of at least one conv block.")
        if image_size < 2 ** len(filters):
            raise ValueError(
                f"image_size={image_size} is too small for {len(filters)} pooling "
                f"blocks; use image_size >= {2 ** len(filters)} or fewer filters."
            )
        self.heads = {name: int(n) for name, n in heads.items()}
        self.image_size = image_size
        self.channels = channels
        self.filters = tuple(filters)
        self.embedding_dim = embedding_dim
        self.dropout = dropout

        self.trunk_layers = []
        for block, width in enumerate(self.filters):
            for conv in range(2):
                prefix = f"block{block}_conv{conv}"
                self.trunk_layers += [
                    keras.layers.Conv2D(
                        width,
                        3,
                        padding="same",
                        use_bias=False,
                        name=prefix,
                        dtype=self.dtype_policy,
                    ),
                    # Momentum 0.9, not 0.99: the moving statistics must settle
                    # within the few hundred steps of a small training set.
                    keras.layers.BatchNormalization(
                        momentum=0.9, name=f"{prefix}_bn", dtype=self.dtype_policy
                    ),
                    keras.layers.ReLU(name=f"{prefix}_relu", dtype=self.dtype_policy),
                ]
            self.trunk_layers.append(
                keras.layers.MaxPooling2D(2, name=f"block{block}_pool", dtype=self.dtype_policy)
            )
        self.trunk_layers += [
            keras.layers.Flatten(name="flatten", dtype=self.dtype_policy),
            keras.layers.Dense(
                embedding_dim, activation="relu", name="embedding", dtype=self.dtype_policy
            ),
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout", dtype=self.dtype_policy)
        self.head_layers = {
            name: keras.layers.Dense(
                n, activation="softmax", name=f"{name}_head", dtype=self.dtype_policy
            )
            for name, n in self.heads.items()
        }

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.trunk_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.dropout_layer.build(shape)
        for head in self.head_layers.values():
            head.build(shape)

    def call(self, images, training=None):
        embedding = self.dropout_layer(self._embed(images, training), training=training)
        return {name: head(embedding) for name, head in self.head_layers.items()}

    def features(self, images, batch_size=256):
        """Penultimate embedding of images (for a domain FID).

        Args:
            images: `[N, image_size, image_size, channels]` float array in
                [-1, 1].
            batch_size: images per forward pass.

        Returns:
            `[N, embedding_dim]` float32 numpy array.
        """
        return np.concatenate(
            [
                keras.ops.convert_to_numpy(
                    self._embed(
                        np.asarray(images[start : start + batch_size], dtype=np.float32),
                        training=False,
                    )
                )
                for start in range(0, len(images), batch_size)
            ]
        )

    def attribute_accuracy(self, images, labels, batch_size=256):
        """Fraction of images whose most probable class is the label, per attribute.

        Args:
            images: `[N, image_size, image_size, channels]` float array in
                [-1, 1], real or generated.
            labels: dict `{attribute: [N] int labels}` for some or all heads
                (for generated images: the attributes their captions asked for).
            batch_size: images per forward pass.

        Returns:
            dict `{attribute: accuracy in [0, 1]}` for the attributes in `labels`.

        Raises:
            ValueError: `labels` names an attribute without a head, or a label
                array does not have N entries.
        """
        unknown = sorted(set(labels) - set(self.heads))
        if unknown:
            raise ValueError(f"No head for attributes {unknown}; heads are {sorted(self.heads)}.")
        for name, values in labels.items():
            if len(values) != len(images):
                raise ValueError(
                    f"labels[{name!r}] has {len(values)} entries for {len(images)} images."
                )
        probabilities = self.predict(images, batch_size=batch_size, verbose=0)
        return {
            name: float(np.mean(np.argmax(probabilities[name], axis=-1) == np.asarray(values)))
            for name, values in labels.items()
        }

    def predict_attributes(self, images, batch_size=256):
        """The most probable value of every attribute: {attribute: [N] int ids}."""
        probabilities = self.predict(images, batch_size=batch_size, verbose=0)
        return {name: np.argmax(p, axis=-1) for name, p in probabilities.items()}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "heads": dict(self.heads),
                "image_size": self.image_size,
                "channels": self.channels,
                "filters": list(self.filters),
                "embedding_dim": self.embedding_dim,
                "dropout": self.dropout,
            }
        )
        return config

    def _embed(self, images, training):
        expected = (self.image_size, self.image_size, self.channels)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"AttributeClassifier expects images of shape [B, {expected[0]}, "
                f"{expected[1]}, {expected[2]}], got {tuple(images.shape)}; resize "
                "them to image_size first."
            )
        x = images
        for layer in self.trunk_layers:
            x = layer(x, training=training)
        return x


def train_attribute_classifier(
    images,
    labels,
    val_images,
    val_labels,
    epochs=10,
    batch_size=64,
    learning_rate=1e-3,
    heads=None,
    filters=(32, 64),
    embedding_dim=128,
    dropout=0.3,
    cosine_decay=True,
    seed=None,
    verbose=0,
):
    """Trains an `AttributeClassifier` on real images and reports validation accuracy.

    Adam on the sum of the per-head sparse categorical cross-entropies, its
    learning rate decayed to zero over the training on a cosine (the weights
    settle, so the batch-norm statistics of the last steps fit them).

    Args:
        images: `[N, S, S, C]` float array in [-1, 1] (S becomes `image_size`).
        labels: dict `{attribute: [N] int labels}`, one entry per head.
        val_images: `[M, S, S, C]` held-out images in [-1, 1].
        val_labels: dict with the same attributes as `labels`, `[M]` each.
        epochs: passes over `images`.
        batch_size: images per step.
        learning_rate: Adam learning rate (the initial one with `cosine_decay`).
        heads: dict `{attribute: number of classes}`; by default one more
            than the largest label seen in `labels` and `val_labels`. Pass it
            when some class may be absent from the data.
        filters: see `AttributeClassifier`.
        embedding_dim: see `AttributeClassifier`.
        dropout: see `AttributeClassifier`.
        cosine_decay: decay the learning rate to zero; False keeps it constant.
        seed: when given, `keras.utils.set_random_seed(seed)` first (Python,
            numpy and backend global seeds), so the initial weights, the
            shuffling and the dropout masks, and with them the classifier,
            are the same on every run.
        verbose: `keras.Model.fit` verbosity.

    Returns:
        `(model, accuracies)`: the trained (compiled) `AttributeClassifier`
        and dict `{attribute: validation accuracy}`.

    Raises:
        ValueError: images are not square `[N, S, S, C]` in [-1, 1], label
            dicts name different attributes, or label counts or values do
            not fit the images or `heads`.
    """
    images = np.asarray(images, dtype=np.float32)
    val_images = np.asarray(val_images, dtype=np.float32)
    for name, array in (("images", images), ("val_images", val_images)):
        if array.ndim != 4 or array.shape[1] != array.shape[2] or len(array) == 0:
            raise ValueError(f"{name} must be non-empty [N, S, S, C], got shape {array.shape}.")
        if array.min() < -1 or array.max() > 1:
            raise ValueError(f"{name} must be in [-1, 1]; map uint8 with x / 127.5 - 1.")
    if images.shape[1:] != val_images.shape[1:]:
        raise ValueError(
            f"images {images.shape[1:]} and val_images {val_images.shape[1:]} differ in shape."
        )
    if set(labels) != set(val_labels):
        raise ValueError(
            f"labels {sorted(labels)} and val_labels {sorted(val_labels)} "
            "name different attributes."
        )
    labels = _label_arrays("labels", labels, len(images))
    val_labels = _label_arrays("val_labels", val_labels, len(val_images))
    if heads is None:
        heads = {name: int(max(labels[name].max(), val_labels[name].max())) + 1 for name in labels}
    for split, arrays in (("labels", labels), ("val_labels", val_labels)):
        for name, array in arrays.items():
            if name not in heads or array.min() < 0 or array.max() >= heads[name]:
                raise ValueError(
                    f"{split}[{name!r}] must hold labels in [0, {heads.get(name)}), "
                    f"got [{array.min()}, {array.max()}]."
                )

    if seed is not None:
        keras.utils.set_random_seed(seed)
    # The judge computes in float32 whatever the global policy (a GAN phase
    # trained with --mixed_precision builds it under bfloat16), so that its
    # scores of runs of either precision compare.
    model = AttributeClassifier(
        heads,
        image_size=images.shape[1],
        channels=images.shape[3],
        filters=filters,
        embedding_dim=embedding_dim,
        dropout=dropout,
        dtype="float32",
    )
    if cosine_decay:
        steps = epochs * -(-len(images) // batch_size)
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={name: "sparse_categorical_crossentropy" for name in heads},
    )
    model.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return model, model.attribute_accuracy(val_images, val_labels, batch_size=batch_size)


def _label_arrays(split, labels, count):
    """`labels` as int64 arrays, each checked to have `count` entries."""
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in labels.items()}
    for name, array in arrays.items():
        if array.shape != (count,):
            raise ValueError(f"{split}[{name!r}] must have shape ({count},), got {array.shape}.")
    return arrays


def load_attribute_classifier(path):
    """Loads an `AttributeClassifier` saved with `model.save(path)`.

    Args:
        path: a `.keras` file.

    Returns:
        The `AttributeClassifier`, uncompiled (for inference).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file holds another kind of model.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Attribute classifier not found: {path}; train one with "
            "train_attribute_classifier and save it with model.save(path)."
        )
    model = keras.saving.load_model(path, compile=False)
    if not isinstance(model, AttributeClassifier):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an AttributeClassifier.")
    return model
