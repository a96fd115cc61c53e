"""lvrpo: official-grade evaluation and GRPO training for unified multimodal models."""

__version__ = "0.1.0"
