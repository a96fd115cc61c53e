"""`lvrpo world train-nano`: train the nano Janus on the world's train split, deterministically given the seed.

Stage 1, the VQ (`JanusVQVAE.forward` cannot train it: it decodes from argmin indices, so no gradient reaches the
encoder — spec tiny-models.md): our own straight-through loop with L2-normalised latents and codebook (what
`decode` assumes), commitment 0.25 and dead-code restarts; the codebook is saved normalised, so the model's own
`encode` picks the same codes.

Stage 2 (optional, `vision_steps`; not in the shipped checkpoint's recipe), the vision tower alone: a per-token head
reads, for each image token, the shape, colour and size of the object under its patch centre (or background), and
is then dropped. Through captions alone the tower learns colour and place but guesses shapes; with 800 steps of this
first (2.5 min), held-out per-token shape accuracy reaches 0.9 and captions are exact on most test scenes after 800
LM steps (loss 0.136, vs 0.16 after 2500 without). It does not by itself lift yes/no and option-letter VQA (MME,
MMBench, MMVP) off chance.

Stage 3, the language model, on a mixture per step:
- understanding: each understanding benchmark's train rows, prompted exactly as the benchmark's adapter and the
  janus backend prompt them, with the gold answer in the form the official scorer reads (`reference_output`);
- captions: "Describe the image." → every object with colour, shape and place — dense supervision that teaches
  the vision encoder the whole scene (the prototype's VQA stuck at the majority answer without it), and the
  same captions as text-to-image prompts;
- text-to-image: GenEval and WISE train prompts → the VQ tokens of a 32-px render of their scene, with ~10% of
  prompts blanked to padding so classifier-free guidance has a learned unconditional branch;
- editing: GEdit train rows (both languages): source image through the understanding encoder + instruction →
  the target scene's VQ tokens.
The vision encoder and aligner learn at a lower rate than the rest (`vision_lr`), which is what lets VQA leave
the majority answer.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from lvrpo.world.nano import GRID as TOKENS
from lvrpo.world.nano import PATCH, SIDE
from lvrpo.world.phrases import overlapping
from lvrpo.world.scenes import COLORS, GRID, SHAPES, SIZES, Scene, random_scene, render, scene_rng

UNDERSTANDING_BENCHES = ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp")
ROW_NAMES = {GRID[0]: "top", GRID[1]: "middle", GRID[2]: "bottom"}
COL_NAMES = {GRID[0]: "left", GRID[1]: "center", GRID[2]: "right"}


@dataclass
class Recipe:
    seed: int = 0
    vq_steps: int = 1200
    lm_steps: int = 2500
    batch: int = 16  # sequences per task per LM step
    lr: float = 1e-3
    # Lower for the vision tower than for the LM: measured on this machine type (spec grpo-feasibility.md), a
    # vision lr 3e-4 with the rest at 1e-3 beats the majority answer within minutes, 3e-3 stays stuck at it.
    vision_lr: float = 3e-4
    vq_lr: float = 2e-3
    vision_steps: int = 0  # off in the shipped recipe; 800 measured better for captions (see stage 2)
    uncond_rate: float = 0.1
    captions: int = 4000
    max_examples: int | None = None  # per task and benchmark (tiny test runs); None: the whole train split


def caption(scene: Scene) -> str:
    """Every object with colour, shape and place, top row first: "a red circle at the top left; ..."."""
    parts = []
    for o in sorted(scene.objects, key=lambda o: (o.y, o.x)):
        where = "center" if (o.x, o.y) == (GRID[1], GRID[1]) else f"{ROW_NAMES[o.y]} {COL_NAMES[o.x]}"
        parts.append(f"{o.describe(with_size=True)} at the {where}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------- examples

@dataclass
class Example:
    prompt: str  # the chat text up to the generation prompt (images as placeholders)
    images: list[Image.Image]  # inputs through the understanding encoder
    answer: str | None = None  # text target
    target: Image.Image | None = None  # image target (rendered at SIDE px)


def understanding_examples(processor: Any, limit: int | None = None) -> list[Example]:
    from lvrpo.evals import get_adapter
    from lvrpo.models.prompting import render as render_prompt
    from lvrpo.world.understanding import reference_output

    out = []
    for bench in UNDERSTANDING_BENCHES:
        adapter = get_adapter(bench)
        for s in adapter.load("world:train")[:limit]:
            text, images = render_prompt(processor, adapter.request(s))
            out.append(Example(text, images, answer=reference_output(bench, s.row)))
    return out


def train_scenes(salt: str, held_out: frozenset[str]) -> Iterator[Scene]:
    """Random train scenes, endless, skipping any the test split shows and any whose objects overlap."""
    for i in itertools.count():
        scene = random_scene(scene_rng("train", i, salt=salt))
        if scene.key() not in held_out and not overlapping(scene):
            yield scene


def caption_examples(processor: Any, n: int, held_out: frozenset[str]) -> tuple[list[Example], list[Example]]:
    """(image → caption, caption → image) pairs over random train scenes none of the test split shows."""
    describe = _chat(processor, "Describe the image.", image=True)
    to_text, to_image = [], []
    for scene in itertools.islice(train_scenes("nano-caption", held_out), n):
        words = caption(scene)
        to_text.append(Example(describe, [render(scene)], answer=words))
        to_image.append(Example(_chat(processor, words), [], target=render(scene, SIDE)))
    return to_text, to_image


def generation_examples(processor: Any, limit: int | None = None) -> tuple[list[Example], list[Example]]:
    """(text-to-image, edit) examples from the GenEval, WISE and GEdit train rows."""
    import json

    from lvrpo.evals import get_adapter

    t2i, edits = [], []
    for bench in ("geneval", "wise"):
        adapter = get_adapter(bench)
        for s in adapter.load("world:train")[:limit]:
            scene = Scene.from_dict(json.loads(s.row["world"]))
            t2i.append(Example(_chat(processor, adapter.request(s).prompt), [], target=render(scene, SIDE)))
    for language in ("en", "cn"):
        adapter = get_adapter(f"gedit:{language}")
        for s in adapter.load("world:train")[:limit]:
            r = adapter.request(s)
            target = Scene.from_dict(json.loads(s.row["world"])["target"])
            edits.append(Example(_chat(processor, r.prompt, image=True), [r.images[0]], target=render(target, SIDE)))
    return t2i, edits


def _chat(processor: Any, text: str, image: bool = False) -> str:
    content = ([{"type": "image"}] if image else []) + [{"type": "text", "text": text}]
    return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)


# ---------------------------------------------------------------------------------------------- stage 1: VQ

def pixels(processor: Any, images: list[Image.Image]) -> torch.Tensor:
    return processor.image_processor(images, return_tensors="pt")["pixel_values"]


def vq_codes(vq, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(normalised latents, normalised codebook, code indices) of pixel batch `x`."""
    z = F.normalize(vq.quant_conv(vq.encoder(x)), dim=1)  # (B, D, g, g)
    book = F.normalize(vq.quantize.embedding.weight, dim=1)
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    return z, book, (flat @ book.T).argmax(-1)


def train_vq(model, processor, images: list[Image.Image], recipe: Recipe, log: Callable[[str, int, float], None],
             gen: torch.Generator) -> None:
    vq = model.model.vqmodel
    vq.train()
    params = [p for n, p in vq.named_parameters()]
    opt = torch.optim.AdamW(params, lr=recipe.vq_lr, weight_decay=0.0)
    data = pixels(processor, images)
    usage = torch.zeros(vq.quantize.num_embeddings)
    for step in range(recipe.vq_steps):
        x = data[torch.randint(len(data), (32,), generator=gen)]
        z, book, idx = vq_codes(vq, x)
        q = book[idx].view(z.shape[0], z.shape[2], z.shape[3], -1).permute(0, 3, 1, 2)
        quant = z + (q - z).detach()  # straight-through
        recon = vq.decoder(vq.post_quant_conv(quant))
        loss = F.mse_loss(recon, x) + F.mse_loss(q, z.detach()) + 0.25 * F.mse_loss(z, q.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
        usage = 0.99 * usage + torch.bincount(idx, minlength=len(usage)).float()
        if step % 100 == 99:  # restart dead codes at latents of this batch
            dead = (usage < 1e-3).nonzero().flatten()
            if len(dead):
                flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                pick = torch.randint(len(flat), (len(dead),), generator=gen)
                with torch.no_grad():
                    vq.quantize.embedding.weight[dead] = flat[pick]
                usage[dead] = 1.0
        log("vq", step, loss.item())
    with torch.no_grad():  # saved normalised: the model's own encode (unnormalised distance) then agrees
        vq.quantize.embedding.weight.copy_(F.normalize(vq.quantize.embedding.weight, dim=1))
    vq.eval()


@torch.no_grad()
def encode(model, processor, images: list[Image.Image]) -> torch.Tensor:
    """(N, 64) VQ codes of images, in chunks."""
    vq = model.model.vqmodel
    return torch.cat([vq_codes(vq, pixels(processor, images[i:i + 256]))[2].view(-1, 64)
                      for i in range(0, len(images), 256)])


# ---------------------------------------------------------------------------------------------- stage 2: vision

def token_labels(scene: Scene) -> torch.Tensor:
    """(3, GRID²) class ids per image token: 1 + the shape, colour and size index of the object whose box holds
    the token's patch centre, 0 for background."""
    labels = torch.zeros(3, TOKENS, TOKENS, dtype=torch.long)
    centres = (torch.arange(TOKENS) + 0.5) * PATCH
    for o in scene.objects:
        x1, y1, x2, y2 = o.box(SIDE)
        rows, cols = (centres >= y1) & (centres < y2), (centres >= x1) & (centres < x2)
        inside = rows[:, None] & cols[None, :]
        for k, value in enumerate((SHAPES.index(o.shape), COLORS.index(o.color), list(SIZES).index(o.size))):
            labels[k][inside] = 1 + value
    return labels.view(3, -1)


def train_vision(model, processor, recipe: Recipe, log: Callable[[str, int, float], None],
                 held_out: frozenset[str]) -> None:
    vision = model.model.vision_model
    widths = (1 + len(SHAPES), 1 + len(COLORS), 1 + len(SIZES))
    head = torch.nn.Linear(vision.config.hidden_size, sum(widths))
    opt = torch.optim.AdamW([*vision.parameters(), *head.parameters()], lr=recipe.lr)
    vision.train()
    stream = train_scenes("nano-vision", held_out)
    for step in range(recipe.vision_steps):
        scenes = list(itertools.islice(stream, 64))
        labels = torch.stack([token_labels(s) for s in scenes])  # (B, 3, T)
        logits = head(vision(pixel_values=pixels(processor, [render(s) for s in scenes])).last_hidden_state)
        loss = sum(F.cross_entropy(part.reshape(-1, part.shape[-1]), labels[:, k].reshape(-1))
                   for k, part in enumerate(logits.split(widths, dim=-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        log("vision", step, loss.item())


# ---------------------------------------------------------------------------------------------- stage 3: LM

@dataclass
class Encoded:
    """An example tokenised once: prompt ids (+ answer ids), the input images' pixel values."""

    ids: list[int]
    pixels: torch.Tensor | None  # (images, 3, SIDE, SIDE)
    answer: int = 0  # how many trailing ids are the answer (text targets)


def encode_examples(processor: Any, examples: list[Example], boi: bool) -> list[Encoded]:
    """Each example as the backend would feed it: the chat text through the processor (image placeholders
    expanded), plus " answer</s>" for text targets, or begin-of-image for image targets."""
    tok, out = processor.tokenizer, []
    for e in examples:
        text = e.prompt + ("<begin_of_image>" if boi else "")
        enc = processor(text=[text], images=e.images or None, generation_mode="text", return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        answer = tok(" " + e.answer + tok.eos_token, add_special_tokens=False)["input_ids"] if e.answer else []
        out.append(Encoded(ids + answer, enc.get("pixel_values"), len(answer)))
    return out


def _prefix(model, batch: list[Encoded], uncond: list[bool] | None = None):
    """Left-padded ids, mask and embeddings (image features merged at the placeholders)."""
    from lvrpo.models.janus import special_ids, unconditional_ids

    bos, boi, pad = special_ids(model)
    width = max(len(e.ids) for e in batch)
    ids = torch.tensor([[pad] * (width - len(e.ids)) + e.ids for e in batch])
    mask = torch.tensor([[0] * (width - len(e.ids)) + [1] * len(e.ids) for e in batch])
    if uncond is not None and any(uncond):
        ids = torch.where(torch.tensor(uncond)[:, None], unconditional_ids(ids, bos, boi, pad), ids)
    embeds = model.get_input_embeddings()(ids)
    pixels = [e.pixels for e, u in zip(batch, uncond or [False] * len(batch), strict=True)
              if e.pixels is not None and not u]
    if pixels:
        feats = model.model.get_image_features(torch.cat(pixels)).pooler_output
        where = (ids == model.config.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(where, feats.reshape(-1, embeds.shape[-1]).to(embeds.dtype))
    return ids, mask, embeds


def _hidden(model, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # as inference: left padding, positions from the mask
    return model.model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=pos,
                                      use_cache=False).last_hidden_state


def image_loss(model, batch: list[Encoded], codes: torch.Tensor, uncond: list[bool]) -> torch.Tensor:
    """Next-image-token cross-entropy of `codes` (B, 64) after each prompt (which ends in begin-of-image)."""
    ids, mask, embeds = _prefix(model, batch, uncond)
    embeds = torch.cat([embeds, model.prepare_embeddings_for_image_generation(codes)], 1)
    hidden = _hidden(model, embeds, torch.cat([mask, torch.ones_like(codes)], 1))
    p, n = ids.shape[1], codes.shape[1]
    logits = model.model.generation_head(hidden[:, p - 1:p + n - 1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), codes.reshape(-1))


def text_loss(model, batch: list[Encoded]) -> torch.Tensor:
    """Cross-entropy of each answer (its trailing ids, end of sequence included) after its prompt."""
    ids, mask, embeds = _prefix(model, batch)
    labels = torch.full_like(ids, -100)
    for i, e in enumerate(batch):
        labels[i, -e.answer:] = ids[i, -e.answer:]
    logits = model.lm_head(_hidden(model, embeds, mask)[:, :-1]).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def train_lm(model, tasks: dict[str, list[Encoded]], codes: dict[str, torch.Tensor], recipe: Recipe,
             log: Callable[[str, int, float], None], rng: random.Random) -> None:
    vq = model.model.vqmodel
    for p in vq.parameters():
        p.requires_grad_(False)
    vision = [p for n, p in model.named_parameters() if n.startswith(("model.vision_model", "model.aligner"))]
    others = [p for n, p in model.named_parameters()
              if p.requires_grad and not n.startswith(("model.vision_model", "model.aligner"))]
    opt = torch.optim.AdamW([{"params": others, "lr": recipe.lr}, {"params": vision, "lr": recipe.vision_lr}],
                            weight_decay=0.01)
    base = [g["lr"] for g in opt.param_groups]
    model.train()
    vq.eval()
    for step in range(recipe.lm_steps):
        warm, left = min(1.0, (step + 1) / 100), 0.5 * (1 + torch.cos(torch.tensor(step / recipe.lm_steps * 3.1416)))
        for g, lr in zip(opt.param_groups, base, strict=True):
            g["lr"] = lr * warm * float(0.1 + 0.9 * left)
        losses = {}
        for name, examples in tasks.items():
            pick = [rng.randrange(len(examples)) for _ in range(recipe.batch)]
            batch = [examples[i] for i in pick]
            if name in codes:
                uncond = [rng.random() < recipe.uncond_rate for _ in pick] if name != "edit" else [False] * len(pick)
                losses[name] = image_loss(model, batch, codes[name][pick], uncond)
            else:
                losses[name] = text_loss(model, batch)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        for name, value in losses.items():
            log(name, step, value.item())
    model.eval()


# ---------------------------------------------------------------------------------------------- the command

def train(out: Path, recipe: Recipe, progress: Callable[[str, int, int, float], None] | None = None) -> dict[str, Any]:
    """Build, train and save the nano model into `out`; returns the manifest (written beside the weights)."""
    from lvrpo.world.nano import build, save
    from lvrpo.world.scenes import WORLD_VERSION
    from lvrpo.world.understanding import held_out_keys

    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng, gen = random.Random(recipe.seed), torch.Generator().manual_seed(recipe.seed)
    started = time.time()
    losses: dict[str, list[float]] = {}

    def log(task: str, step: int, value: float) -> None:
        losses.setdefault(task, []).append(round(value, 6))
        if progress:
            total = {"vq": recipe.vq_steps, "vision": recipe.vision_steps}.get(task, recipe.lm_steps)
            progress(task, step, total, value)

    model, processor = build(corpus_texts(), recipe.seed)
    understanding = understanding_examples(processor, recipe.max_examples)
    held_out = held_out_keys()
    to_text, to_image = caption_examples(processor, recipe.captions, held_out)
    t2i, edits = generation_examples(processor, recipe.max_examples)
    train_vq(model, processor, [e.target for e in to_image + t2i + edits], recipe, log, gen)
    if recipe.vision_steps:
        train_vision(model, processor, recipe, log, held_out)
    raw = {"vqa": understanding, "caption": to_text, "t2i": t2i + to_image, "edit": edits}
    codes = {name: encode(model, processor, [e.target for e in raw[name]]) for name in ("t2i", "edit")}
    tasks = {name: encode_examples(processor, examples, boi=name in codes) for name, examples in raw.items()}
    train_lm(model, tasks, codes, recipe, log, rng)
    manifest = {"command": f"lvrpo world train-nano --out {out} --seed {recipe.seed}", "recipe": asdict(recipe),
                "world_version": WORLD_VERSION, "git_sha": _git_sha(), "seconds": round(time.time() - started),
                "examples": {k: len(v) for k, v in tasks.items()},
                "parameters": sum(p.numel() for p in model.parameters()),
                "final_losses": {k: sum(v[-50:]) / len(v[-50:]) for k, v in losses.items()},
                "first_losses": {k: v[:5] for k, v in losses.items()}}
    save(model, processor, out, manifest)
    return manifest


def corpus_texts() -> list[str]:
    """Text the tokenizer is trained on: every prompt, question, option and answer the world's train and test
    splits hold (both GEdit languages), plus captions' words and the chat template's."""
    from lvrpo.world.data import generator

    texts = ["<|User|>: <|Assistant|>: Describe the image.", " ".join(COLORS + SHAPES + tuple(SIZES)),
             "top middle bottom left center right at the ; 0 1 2 3 4 5 6 7 8 9 ."]
    for bench in (*UNDERSTANDING_BENCHES, "geneval", "wise", "gedit"):
        fn, n = generator(bench)
        for row in fn("test", n) + fn("train", n):
            texts += [v for k, v in row.items() if isinstance(v, str) and k != "world" and not k.startswith("image")]
    return texts


def _git_sha() -> str | None:
    import subprocess

    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                             timeout=5)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
