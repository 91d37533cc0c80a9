"""Configuration of the two training phases."""

import dataclasses

PHASES = ("damsm", "gan", "all")
NAN_POLICIES = ("stop", "skip")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, logging and checkpointing.

    Args:
        phase: `"damsm"` (encoders only), `"gan"` (encoders frozen) or
            `"all"` (damsm, then gan).
        damsm_steps: optimisation steps of the DAMSM phase.
        gan_steps: optimisation steps of the GAN phase.
        damsm_learning_rate: Adam learning rate of the encoders (AttnGAN 2e-4).
        generator_learning_rate: Adam learning rate of the generator.
        discriminator_learning_rate: Adam learning rate of each discriminator.
        beta_1: Adam beta_1 of the GAN optimizers (0.5).
        beta_2: Adam beta_2 (0.999).
        similarity_weight: lambda of L_similarity in the generator loss.
        kl_weight: weight of the conditioning-augmentation KL term.
        mode_seeking_weight: weight of the mode-seeking term (MSGAN) in the
            generator loss: 0 leaves the seed's loss as it is; above 0, half
            of each batch is drawn a second time with other noise and the
            generator is rewarded for images that differ as much as their
            noises do (`losses.mode_seeking_loss`).
        auxiliary_weight: weight of the auxiliary heads' loss (AC-GAN) in
            L_D (real images) and L_G (generated images); used only with
            `ModelConfig.auxiliary_attributes`.
        mismatch_term: add AttnGAN's (real image, wrong caption) term to L_D.
        hard_mismatch: with `mismatch_term`, also pair each real image with
            the caption of the batch closest to its own in e_bar among those
            showing something else (see `AttnGAN`).
        ema_decay: decay of the exponential moving average of the generator.
        checkpoint_every: steps between checkpoints.
        log_every: steps between scalar summaries and progress lines.
        image_every: steps between image summaries; 0 writes none, not even
            at the end of a phase.
        eval_every: steps between validation evaluations (R-precision,
            attribute accuracy, variety); 0 runs none, not even at the end of
            a phase (`python -m fashion_t2i.evaluate` still measures the run).
        max_checkpoints: checkpoints kept.
        on_nan: `"stop"` ends training at a non-finite loss, keeping the last
            good checkpoint; `"skip"` drops the update and counts it.
    """

    phase: str = "all"
    damsm_steps: int = 1000
    gan_steps: int = 1000
    damsm_learning_rate: float = 2e-4
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    similarity_weight: float = 5.0
    kl_weight: float = 1.0
    mode_seeking_weight: float = 0.0
    auxiliary_weight: float = 1.0
    mismatch_term: bool = True
    hard_mismatch: bool = False
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    log_every: int = 50
    image_every: int = 500
    eval_every: int = 500
    max_checkpoints: int = 3
    on_nan: str = "stop"

    def __post_init__(self):
        if self.phase not in PHASES:
            raise ValueError(f"TrainConfig.phase must be one of {PHASES}, got {self.phase!r}.")
        if self.on_nan not in NAN_POLICIES:
            raise ValueError(
                f"TrainConfig.on_nan must be one of {NAN_POLICIES}, got {self.on_nan!r}."
            )
        for name in ("checkpoint_every", "log_every", "max_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1.")
        for name in ("image_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0 (0: never).")
        if self.hard_mismatch and not self.mismatch_term:
            raise ValueError("TrainConfig.hard_mismatch needs mismatch_term=True.")
        if self.mode_seeking_weight < 0:
            raise ValueError(
                f"TrainConfig.mode_seeking_weight must be >= 0, got {self.mode_seeking_weight}."
            )
        if self.auxiliary_weight < 0:
            raise ValueError(
                f"TrainConfig.auxiliary_weight must be >= 0, got {self.auxiliary_weight}."
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}.")
