"""Configuration of the exported serving graph."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What the SavedModel accepts.

    Args:
        model_name: directory name under the serving base path.
        max_batch: largest batch a request may carry; larger requests are
            rejected with INVALID_ARGUMENT.
        max_text_bytes: texts longer than this many bytes are cut to it
            before tokenisation (tokenisation keeps only `max_words` tokens
            anyway); documented, never an error.
    """

    model_name: str = "fashion_t2i"
    max_batch: int = 64
    max_text_bytes: int = 4096

    def __post_init__(self):
        if self.max_batch < 1:
            raise ValueError("ExportConfig.max_batch must be >= 1.")
        if self.max_text_bytes < 1:
            raise ValueError("ExportConfig.max_text_bytes must be >= 1.")
