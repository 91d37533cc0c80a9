"""Configuration of where and how the training step runs: devices, precision, XLA."""

import dataclasses

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("off", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Execution settings. They change speed, not what the checkpoints hold,
    so a run may resume under other values (e.g. on more devices).

    Args:
        strategy: `"default"` (one device), `"mirrored"` (every local GPU,
            or the CPU), `"multi_worker"` (synchronous data parallelism over
            the workers of `TF_CONFIG`) or `"tpu"`.
        tpu: TPU name or `grpc://` address for `strategy="tpu"` (`""`: the
            local TPU or the one in the `TPU_NAME` environment variable).
        mixed_precision: `"off"` (float32), `"bfloat16"` (bfloat16 compute,
            float32 variables) or `"float16"` (float16 compute with dynamic
            loss scaling). Heads and losses stay float32.
        jit_compile: compile the training steps with XLA.
        num_cpu_devices: split the CPU into this many logical devices before
            anything runs (0: leave it whole). With `strategy="mirrored"` on
            a machine without GPUs this gives MirroredStrategy replicas to
            test data parallelism on.
    """

    strategy: str = "default"
    tpu: str = ""
    mixed_precision: str = "off"
    jit_compile: bool = False
    num_cpu_devices: int = 0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"RuntimeConfig.strategy must be one of {STRATEGIES}, got {self.strategy!r}."
            )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"RuntimeConfig.mixed_precision must be one of {MIXED_PRECISION}, "
                f"got {self.mixed_precision!r}."
            )
        if self.num_cpu_devices < 0:
            raise ValueError("RuntimeConfig.num_cpu_devices must be >= 0.")
