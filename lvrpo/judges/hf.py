"""`hf:PATH`: a local transformers image-text-to-text model (e.g. Qwen2.5-VL) as judge, fully offline.

Loaded with AutoProcessor + AutoModelForImageTextToText from a local directory (`trust_remote_code` off),
prompted through the processor's chat template (images first, then the text), decoded greedily.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from lvrpo.judges.base import Judge, JudgeError
from lvrpo.types import LvrpoError


class HFJudge(Judge):
    """One sample at a time on the best device found (CUDA, else CPU), in the checkpoint's own dtype."""

    def __init__(self, path: str, device: str | None = None):
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise LvrpoError(f"--judge hf:{path}: not a local model directory")
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name = f"hf:{path}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.processor = AutoProcessor.from_pretrained(self.path, trust_remote_code=False, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(
                self.path, trust_remote_code=False, local_files_only=True, dtype="auto").to(self.device).eval()
        except (OSError, ValueError, KeyError) as e:
            raise LvrpoError(f"--judge hf:{path}: cannot load an image-text-to-text model: {e}") from e
        if getattr(self.processor, "chat_template", None) is None:
            raise LvrpoError(f"--judge hf:{path}: the processor has no chat template")

    def describe(self) -> dict:
        return {"judge": self.name, "model_type": getattr(self.model.config, "model_type", ""), "greedy": True}

    def complete(self, prompt: str, images: list[Image.Image] | None = None, *, max_tokens: int = 512,
                 temperature: float | None = 0.0, system: str | None = None, image_format: str = "png",
                 attempt: int = 0, extra_body: dict | None = None) -> str:
        """Greedy reply (sampled only if `temperature` > 0). Raises JudgeError when generation fails.
        `image_format`, `attempt` and `extra_body` concern HTTP judges and are ignored here."""
        import torch

        images = [im.convert("RGB") for im in images or []]
        prompt, system = _text(prompt), _text(system) if system else system
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": prompt}]
        messages = ([{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []) + [
            {"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        sampling = {"do_sample": True, "temperature": temperature} if temperature else {"do_sample": False}
        try:
            inputs = self.processor(text=[text], images=images or None, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_tokens, **sampling)
        except (RuntimeError, ValueError) as e:  # e.g. out of memory, a prompt longer than the context
            raise JudgeError(f"judge {self.name}: {type(e).__name__}: {e}") from e
        new = out[0, inputs["input_ids"].shape[1]:]
        return self.processor.decode(new, skip_special_tokens=True).strip()



def _text(text: str) -> str:
    """`text` with each lone surrogate (from a model's cut-off reply) as U+FFFD: tokenizers take valid Unicode
    only, and no tokenizer could encode half a character anyway. Surrogate pairs are joined into their character."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
