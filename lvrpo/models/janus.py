"""`janus`: transformers `JanusForConditionalGeneration` (Janus-Pro-1B/7B) — understanding and text-to-image, and
editing for checkpoints that declare it (`lvrpo_capabilities` in config.json, as the nano model does).

Understanding goes through the processor's chat template (the prompt layout of `lvrpo.models.prompting`, shared
with the hf backend), greedy, one left-padded batch. Text-to-image goes through
`generate(generation_mode="image")`, which duplicates the batch into [conditional; unconditional] halves (in the
unconditional half every prompt token but BOS and begin-of-image becomes pad) and runs `num_image_tokens` steps
through the separate image head (shared/specs/grpo-trainers.md §2.3, §5). Guidance, temperature and sampling run
in our own logits processor (`GuidedSampler`): the sampled distribution is then exactly
softmax(guided_logits / T) — the one `image_token_log_probs` recomputes by teacher forcing, which a GRPO trainer
needs because `generate` returns token ids only — and every image draws from its own generator (seed + k), so an
image does not depend on what else was in the batch.

`--model-args`: cfg_weight (default 5), temperature (default 1; 0 = greedy). Defaults follow the official Janus
`generation_inference.py` (deepseek-ai/Janus: cfg_weight 5, temperature 1).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import GenerationMixin, LogitsProcessor, LogitsProcessorList

from lvrpo.hub import offline_mode
from lvrpo.models.base import (
    Backend,
    BackendOptions,
    check_model_args,
    explain_load_error,
    request_seed,
    resolve_device,
    resolve_dtype,
    template_digest,
)
from lvrpo.models.prompting import finish, render
from lvrpo.types import LvrpoError, Request

DEFAULTS = {"cfg_weight": 5.0, "temperature": 1.0}


# ---- pieces a GRPO trainer reuses: prompts, the unconditional branch, guidance, teacher-forced log-probs ----

def image_prompts(processor, prompts: list[str]) -> dict[str, torch.Tensor]:
    """Text-to-image inputs: each prompt as a user turn of the chat template plus the begin-of-image token
    (`processor(..., generation_mode="image")` appends it), left-padded into one batch."""
    texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": p}]}],
                                           add_generation_prompt=True) for p in prompts]
    enc = processor(text=texts, generation_mode="image", padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def special_ids(model) -> tuple[int, int, int]:
    """(bos, begin-of-image, pad) as image-mode `generate` reads them from the generation config."""
    gen = model.generation_config
    return gen.bos_token_id, gen.generation_kwargs["boi_token_id"], gen.pad_token_id


def unconditional_ids(input_ids: torch.Tensor, bos_id: int, boi_id: int, pad_id: int) -> torch.Tensor:
    """The unconditional branch of CFG: every token except BOS and begin-of-image replaced by pad (the rule of
    transformers' image-mode `generate` and of the official Janus `generation_inference.py`)."""
    keep = (input_ids == bos_id) | (input_ids == boi_id)
    return torch.where(keep, input_ids, torch.full_like(input_ids, pad_id))


def guided_logits(cond: torch.Tensor, uncond: torch.Tensor, cfg_weight: float) -> torch.Tensor:
    """ℓ_u + w·(ℓ_c − ℓ_u): classifier-free guidance as Janus applies it, before temperature."""
    return uncond + cfg_weight * (cond - uncond)


def image_token_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_tokens: torch.Tensor,
                       cfg_weight: float, *, detach_uncond: bool = False) -> torch.Tensor:
    """Guided image-head logits (B, N, codebook) for `image_tokens` (B, N) after the prompts, by teacher forcing:
    the token at step t is scored from the hidden state at position P−1+t (P = padded prompt length), with
    position ids cumsum(mask) − 1 so left-padded rows line up with `generate`."""
    bos, boi, pad = special_ids(model)
    ids = torch.cat([input_ids, unconditional_ids(input_ids, bos, boi, pad)])
    tokens = torch.cat([image_tokens, image_tokens])
    embeds = torch.cat([model.get_input_embeddings()(ids), model.prepare_embeddings_for_image_generation(tokens)], 1)
    mask = torch.cat([attention_mask, attention_mask])
    mask = torch.cat([mask, torch.ones_like(tokens, dtype=mask.dtype)], 1)
    position_ids = (mask.long().cumsum(-1) - 1).clamp(min=0)
    hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids,
                                        use_cache=False).last_hidden_state
    p, n = input_ids.shape[1], image_tokens.shape[1]
    cond, uncond = model.model.generation_head(hidden[:, p - 1:p + n - 1]).float().chunk(2)
    return guided_logits(cond, uncond.detach() if detach_uncond else uncond, cfg_weight)


def image_token_log_probs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_tokens: torch.Tensor,
                          cfg_weight: float, temperature: float, *, detach_uncond: bool = False) -> torch.Tensor:
    """Per-token log-probs (B, N) of `image_tokens` under the distribution `GuidedSampler` samples from
    (temperature > 0; at 0 sampling is greedy and has no log-probs)."""
    if temperature <= 0:
        raise ValueError("image_token_log_probs needs temperature > 0")
    logits = image_token_logits(model, input_ids, attention_mask, image_tokens, cfg_weight,
                                detach_uncond=detach_uncond)
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, image_tokens.unsqueeze(-1)).squeeze(-1)


class GuidedSampler(LogitsProcessor):
    """Takes image-mode `generate`'s [cond; uncond] scores (2B rows), applies CFG and temperature, draws row i's
    token with `generators[i]` and returns scores whose argmax is that token (generate runs in greedy mode)."""

    def __init__(self, cfg_weight: float, temperature: float, generators: list[torch.Generator]):
        self.cfg_weight, self.temperature, self.generators = cfg_weight, temperature, generators

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cond, uncond = scores.float().chunk(2)
        logits = guided_logits(cond, uncond, self.cfg_weight)
        if self.temperature <= 0:
            picked = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            picked = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        out = torch.full_like(logits, float("-inf"))
        return out.scatter_(-1, picked.unsqueeze(-1), 0.0)


def sample_image_tokens(model, inputs: dict[str, torch.Tensor], seeds: list[int], cfg_weight: float,
                        temperature: float) -> torch.Tensor:
    """(B, num_image_tokens) image tokens, row i sampled with a generator seeded `seeds[i]`."""
    from transformers import GenerationConfig

    bos, boi, pad = special_ids(model)
    device = inputs["input_ids"].device
    gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    # A clean config: no warper or penalty from the checkpoint may act on image scores; guidance_scale 1 keeps
    # generate's own CFG processor out (ours does it), greedy mode takes the token ours picked.
    config = GenerationConfig(bos_token_id=bos, pad_token_id=pad, eos_token_id=model.generation_config.eos_token_id,
                              generation_kwargs=dict(model.generation_config.generation_kwargs), do_sample=False,
                              guidance_scale=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0)
    return model.generate(**inputs, generation_mode="image", generation_config=config,
                          logits_processor=LogitsProcessorList([GuidedSampler(cfg_weight, temperature, gens)]))


def edit_prompts(processor, requests: list[Request], rows: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
    """Edit inputs: a user turn with the source image (through the understanding encoder) and the instruction,
    then begin-of-image, left-padded into one batch with the images' pixel values."""
    boi = processor.tokenizer.boi_token
    texts = [processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": requests[i].prompt}]}], add_generation_prompt=True) + boi
        for i, _ in rows]
    images = [requests[i].images[0].convert("RGB") for i, _ in rows]
    return dict(processor(text=texts, images=images, generation_mode="text", padding=True, return_tensors="pt"))


def sample_edit_tokens(model, inputs: dict[str, torch.Tensor], seeds: list[int], cfg_weight: float,
                       temperature: float) -> torch.Tensor:
    """(B, num_image_tokens) image tokens after source image + instruction, with CFG against the unconditional
    branch of text-to-image (every prompt token but BOS and begin-of-image as pad, no image) and the same
    per-row guided sampling as `GuidedSampler`."""
    bos, boi, pad = special_ids(model)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    embeds = model.get_input_embeddings()(ids)
    feats = model.model.get_image_features(inputs["pixel_values"].to(embeds.dtype)).pooler_output
    where = (ids == model.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(where, feats.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
    x = torch.cat([embeds, model.get_input_embeddings()(unconditional_ids(ids, bos, boi, pad))])
    mask = torch.cat([mask, mask])
    sampler = GuidedSampler(cfg_weight, temperature,
                            [torch.Generator(device=ids.device).manual_seed(int(s)) for s in seeds])
    lm, tokens, cache = model.model.language_model, [], None
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    for _ in range(model.generation_config.generation_kwargs["num_image_tokens"]):
        out = lm(inputs_embeds=x, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.2x
        scores = sampler(None, model.model.generation_head(out.last_hidden_state[:, -1]))
        picked = scores.argmax(-1)
        tokens.append(picked)
        x = model.prepare_embeddings_for_image_generation(torch.cat([picked, picked])).unsqueeze(1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        positions = positions[:, -1:] + 1
    return torch.stack(tokens, 1)


def decode_images(model, processor, tokens: torch.Tensor) -> list[Image.Image]:
    """Image tokens → VQ decoder → PIL. `decode_image_tokens` returns channels-last (B, H, W, 3) in the processor's
    normalised space; we unnormalise with its mean/std and truncate to uint8 like the official
    `generation_inference.py` (np.clip((x + 1) / 2 * 255, 0, 255) for mean = std = 0.5). NaNs (fp16 overflow)
    become black instead of undefined bytes."""
    x = model.decode_image_tokens(tokens).float()  # (B, H, W, 3)
    ip = processor.image_processor
    mean = torch.tensor(ip.image_mean, device=x.device)
    std = torch.tensor(ip.image_std, device=x.device)
    x = torch.nan_to_num((x * std + mean) * 255, nan=0.0).clamp(0, 255).to(torch.uint8).cpu().numpy()
    return [Image.fromarray(a) for a in x]


# ---- the backend ----

class JanusBackend(Backend):
    """Janus-Pro through transformers: understand (greedy) and generate (CFG, temperature, per-image seeds)."""

    name = "janus"
    capabilities = frozenset({"understand", "generate"})
    # A Janus-class checkpoint trained to edit says so in its config (the nano model does); Janus-Pro does not.
    DECLARED = "lvrpo_capabilities"

    @classmethod
    def capabilities_for(cls, config: dict) -> frozenset:
        declared = config.get(cls.DECLARED)
        return frozenset(declared) & {"understand", "generate", "edit"} if declared else cls.capabilities

    def __init__(self, model: str, options: BackendOptions):
        from transformers import AutoProcessor, JanusForConditionalGeneration

        check_model_args(self.name, options.extra, DEFAULTS)
        self.user = {k: _number(v, k) for k, v in options.extra.items()}
        self.model_id, self.device = model, resolve_device(options.device)
        self.dtype = resolve_dtype(options.dtype, self.device)
        kwargs: dict[str, Any] = {"dtype": self.dtype, "device_map": self.device,  # load straight onto the device
                                  "trust_remote_code": options.trust_remote_code, "local_files_only": offline_mode()}
        if options.attn_implementation:
            kwargs["attn_implementation"] = options.attn_implementation
        try:
            self.model = JanusForConditionalGeneration.from_pretrained(model, **kwargs).eval()
            self.processor = AutoProcessor.from_pretrained(model, trust_remote_code=options.trust_remote_code,
                                                           local_files_only=kwargs["local_files_only"])
        except Exception as e:
            raise explain_load_error(model, e) from e
        self.processor.tokenizer.padding_side = "left"  # batched generation continues every row at the right end
        self.capabilities = self.capabilities_for(self.model.config.to_dict())

    @torch.no_grad()
    def understand(self, requests: list[Request]) -> list[str]:
        rendered = [render(self.processor, r) for r in requests]  # the hf backend's layout: same prompts
        texts = [text for text, _ in rendered]
        images = [img for _, imgs in rendered for img in imgs]
        enc = self.processor(text=texts, images=images or None, generation_mode="text", padding=True,
                             return_tensors="pt").to(self.device)
        if "pixel_values" in enc:
            enc["pixel_values"] = enc["pixel_values"].to(self.dtype)
        tok = self.processor.tokenizer
        # Janus's own text mode only calls GenerationMixin.generate with CFG off, after preparing the config once
        # already (which makes transformers warn about max_length on every call); the same call, made directly:
        out = GenerationMixin.generate(self.model, **enc, do_sample=False, guidance_scale=None,
                                       max_new_tokens=max(r.max_new_tokens for r in requests),
                                       pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        # greedy decoding is prefix-consistent: cutting a row at its own limit equals running it alone
        answers = tok.batch_decode([row[:r.max_new_tokens] for row, r in zip(new, requests, strict=True)],
                                   skip_special_tokens=True)
        return [finish(a, r) for a, r in zip(answers, requests, strict=True)]

    @torch.no_grad()
    def generate(self, requests: list[Request]) -> list[list[Image.Image]]:
        """All prompts × num_images in one sampling call per (cfg_weight, temperature) setting."""
        return self._images(requests, lambda rows: image_prompts(self.processor, [requests[i].prompt for i, _ in rows]),
                            sample_image_tokens)

    @torch.no_grad()
    def edit(self, requests: list[Request]) -> list[list[Image.Image]]:
        """Source image + instruction → num_images edited images (checkpoints that declare the edit capability)."""
        if "edit" not in self.capabilities:
            raise LvrpoError(f"janus: {self.model_id} declares no edit capability ({self.DECLARED} in config.json)")
        if missing := [r.id for r in requests if not r.images]:
            raise LvrpoError(f"janus: edit request {missing[0]!r} has no source image")
        return self._images(requests, lambda rows: edit_prompts(self.processor, requests, rows), sample_edit_tokens)

    def _images(self, requests: list[Request], inputs_for, sample) -> list[list[Image.Image]]:
        """num_images per request: rows grouped by sampling setting, each group one `sample` call on the inputs
        `inputs_for(rows)` builds, row (i, k) seeded with request i's seed + k."""
        groups: dict[tuple[float, float], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(self._sampling(r), []).append(i)
        results: list[list[Image.Image]] = [[] for _ in requests]
        for (cfg_weight, temperature), idx in groups.items():
            rows = [(i, k) for i in idx for k in range(requests[i].num_images)]
            if not rows:
                continue
            inputs = {k: v.to(self.device) for k, v in inputs_for(rows).items()}
            seeds = [request_seed(requests[i]) + k for i, k in rows]
            tokens = sample(self.model, inputs, seeds, cfg_weight, temperature)
            for (i, _), img in zip(rows, decode_images(self.model, self.processor, tokens), strict=True):
                results[i].append(img)
        return results

    def _sampling(self, r: Request) -> tuple[float, float]:
        """(cfg_weight, temperature): --model-args first, then the benchmark's hint, then the official default."""
        def pick(key: str, *hints: str) -> float:
            if key in self.user:
                return self.user[key]
            for h in (key, *hints):
                if r.options.get(h) is not None:
                    return _number(r.options[h], h)
            return DEFAULTS[key]
        return pick("cfg_weight", "guidance_scale"), pick("temperature")

    def describe(self) -> dict:
        made = Path(self.model_id) / "nano_manifest.json"  # a trained-here checkpoint: which training made it
        trained = {"trained": hashlib.sha256(made.read_bytes()).hexdigest()[:16]} if made.is_file() else {}
        return {"backend": self.name, "model": self.model_id, "device": self.device, "dtype": str(self.dtype),
                "chat_template": template_digest(self.processor), **trained, **DEFAULTS, **self.user}


def _number(value: Any, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise LvrpoError(f"janus: {key}={value!r} is not a number") from None
