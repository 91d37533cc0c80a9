"""Text-to-fashion-image generation: bi-LSTM text encoder, two-stage attention GAN, DAMSM."""

__version__ = "0.1.0"
