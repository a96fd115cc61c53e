"""`vllm` (optional extra, `pip install lvrpo[vllm]`): understanding through `vllm.LLM`, batched.

Prompt and images are prepared exactly as for `hf` (prompting.py: the checkpoint's processor chat template,
images first or at their `<image k>` tags); only the engine call differs. The request follows vLLM's documented
offline multi-modal format (vLLM `docs/features/multimodal_inputs.md`, `vllm/entrypoints/llm.py`):
`LLM.generate([{"prompt": text, "multi_modal_data": {"image": image or [images]}}, ...], [SamplingParams, ...])`,
one `SamplingParams(temperature=0, max_tokens=request.max_new_tokens, stop=...)` per prompt (temperature 0 is
greedy in vLLM). Not exercised against a real engine in this project's tests (no GPU/vLLM there).

`--model-args`: `max_images` (vLLM `limit_mm_per_prompt`, default 8: MMMU cites up to 7), `tensor_parallel_size`,
`max_model_len`, `gpu_memory_utilization`, `interleave=false`, `temperature`, `top_p`. `--device` and
`--attn-implementation` do not apply (vLLM picks its own).
"""

from __future__ import annotations

from typing import Any

from lvrpo.hub import offline_mode
from lvrpo.models.base import (
    Backend,
    BackendOptions,
    check_model_args,
    explain_load_error,
    resolve_dtype,
    template_digest,
)
from lvrpo.models.prompting import finish, flag, number, render
from lvrpo.types import LvrpoError, Request

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
MODEL_ARGS = ("max_images", "tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "interleave",
              "temperature", "top_p")


def import_vllm():
    """The vllm module, or a clear LvrpoError telling how to install it."""
    try:
        import vllm
    except ImportError:
        raise LvrpoError("the vllm backend needs vLLM, which is not installed: pip install lvrpo[vllm] "
                         "(Linux with a CUDA GPU), or use the hf backend") from None
    return vllm


class VLLMBackend(Backend):
    """A `vllm.LLM` engine fed the same prompts as the hf backend."""

    name = "vllm"
    capabilities = frozenset({"understand"})

    def __init__(self, model: str, options: BackendOptions | None = None):
        options = options or BackendOptions()
        check_model_args(self.name, options.extra, MODEL_ARGS)
        vllm = import_vllm()
        extra = options.extra
        self.path = model
        self.interleave = flag(extra.get("interleave"), True, "interleave")
        self.temperature = number(extra.get("temperature"), 0.0, "temperature")
        self.top_p = number(extra.get("top_p"), 1.0, "top_p")
        self.SamplingParams = vllm.SamplingParams
        try:
            from transformers import AutoProcessor

            self.processor = AutoProcessor.from_pretrained(model, trust_remote_code=options.trust_remote_code,
                                                           local_files_only=offline_mode())
        except Exception as e:
            raise explain_load_error(model, e) from e
        self.llm = vllm.LLM(**self.engine_args(model, options))

    @staticmethod
    def engine_args(model: str, options: BackendOptions) -> dict[str, Any]:
        """Keyword arguments of `vllm.LLM` from the common options and `--model-args`."""
        extra = options.extra
        dtype = "auto"
        if options.dtype != "auto":
            dtype = _DTYPES[str(resolve_dtype(options.dtype, "cuda")).removeprefix("torch.")]
        args: dict[str, Any] = {"model": model, "dtype": dtype, "trust_remote_code": options.trust_remote_code,
                                "limit_mm_per_prompt": {"image": number(extra.get("max_images"), 8, "max_images", int)}}
        for key, cast in (("tensor_parallel_size", int), ("max_model_len", int), ("gpu_memory_utilization", float)):
            if extra.get(key):
                args[key] = number(extra[key], 0, key, cast)
        return args

    def describe(self) -> dict:
        return {"backend": self.name, "interleave": self.interleave, "chat_template": template_digest(self.processor),
                "generation": {"temperature": self.temperature, "top_p": self.top_p}}

    def inputs(self, requests: list[Request]) -> tuple[list[dict[str, Any]], list[Any]]:
        """vLLM prompts (text + `multi_modal_data`) and one SamplingParams per request."""
        prompts, params = [], []
        for r in requests:
            text, images = render(self.processor, r, self.interleave)
            prompt: dict[str, Any] = {"prompt": text}
            if images:  # the docs pass one image as is, several as a list
                prompt["multi_modal_data"] = {"image": images[0] if len(images) == 1 else images}
            prompts.append(prompt)
            stop = list(r.options.get("stop") or []) or None
            params.append(self.SamplingParams(temperature=self.temperature, top_p=self.top_p,
                                              max_tokens=r.max_new_tokens, stop=stop))
        return prompts, params

    def understand(self, requests: list[Request]) -> list[str]:
        """One answer per request, all submitted in one `generate` call (vLLM batches them itself)."""
        if not requests:
            return []
        prompts, params = self.inputs(requests)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [finish(out.outputs[0].text, r) for out, r in zip(outputs, requests, strict=True)]
