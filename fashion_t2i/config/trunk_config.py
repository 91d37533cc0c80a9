"""Configuration of the image trunk pretrained on the run's own images."""

import dataclasses

TRUNK_ATTRIBUTES = ("class", "colour", "pattern")


@dataclasses.dataclass(frozen=True)
class TrunkConfig:
    """How the InceptionV3 trunk is pretrained when `ModelConfig.image_encoder_weights`
    is `"pretrain"` (`fashion_t2i.image_trunk`).

    Without ImageNet weights (offline, or for data far from ImageNet), the
    trunk is first trained to predict the attributes of the training images
    (one softmax head per attribute on its global pool), then frozen: the
    DAMSM projections and the text encoder train on top, as AttnGAN trains
    them over its frozen ImageNet trunk.

    Args:
        steps: optimisation steps (each image is seen at most once when
            `steps * batch_size` does not exceed the training set).
        batch_size: images per step.
        learning_rate: initial Adam learning rate, decayed to zero on a
            cosine, so that the batch-norm statistics of the last steps fit
            the final weights.
        attributes: the attribute heads trained (of `TRUNK_ATTRIBUTES`, the
            ids of the embedded data). Class alone leaves colour out of the
            features the DAMSM can read.
        num_validation: validation images whose accuracy is logged and kept
            beside the weights.
        seed: global seed set before the trunk is built (same data and
            config, same trunk).
    """

    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 1e-3
    attributes: tuple = TRUNK_ATTRIBUTES
    num_validation: int = 1000
    seed: int = 0

    def __post_init__(self):
        # JSON gives lists back: keep the field hashable and comparable.
        object.__setattr__(self, "attributes", tuple(self.attributes))
        for name in ("steps", "batch_size", "num_validation"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrunkConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.learning_rate <= 0:
            raise ValueError(f"TrunkConfig.learning_rate must be > 0, got {self.learning_rate}.")
        unknown = [a for a in self.attributes if a not in TRUNK_ATTRIBUTES]
        if not self.attributes or unknown or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(
                f"TrunkConfig.attributes must be distinct names of {TRUNK_ATTRIBUTES}, "
                f"got {self.attributes!r}."
            )
