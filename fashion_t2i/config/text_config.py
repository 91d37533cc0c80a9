"""Configuration of tokenisation and the vocabulary."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """How captions become token ids.

    Args:
        max_words: fixed number of token ids per caption. Longer captions keep
            their first `max_words` tokens (Fashion-Gen descriptions put the
            garment and its colour first); shorter ones are padded with 0.
        min_count: a word seen fewer times in the training captions is out of
            vocabulary.
        max_vocab: upper bound on the vocabulary size including the padding
            and OOV ids (0 = no bound). Bounds the words of the training
            captions only.
        pretrained_words: with word vectors (`ModelConfig.word_vectors_path`),
            the vocabulary also holds this many of their most frequent words
            after the training captions' words, so that words no caption
            used still get their vector instead of the OOV id (0 = none).
    """

    max_words: int = 18
    min_count: int = 1
    max_vocab: int = 0
    pretrained_words: int = 0

    def __post_init__(self):
        if self.max_words < 1:
            raise ValueError(f"TextConfig.max_words must be >= 1, got {self.max_words}.")
        if self.pretrained_words < 0:
            raise ValueError(
                f"TextConfig.pretrained_words must be >= 0, got {self.pretrained_words}."
            )
        if self.min_count < 1:
            raise ValueError(f"TextConfig.min_count must be >= 1, got {self.min_count}.")
