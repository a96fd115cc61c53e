"""Hugging Face hub access that fails fast. Call `ensure_hub` before loading anything by hub id.

Without network, huggingface_hub/transformers/datasets retry every file for about a minute and then report a
cache miss. Instead: with `HF_HUB_OFFLINE` set, only the local HF cache is used (and an id that is not there is
one clear line); otherwise the endpoint (`HF_ENDPOINT`, default https://huggingface.co) is probed once per process
with a short timeout. When it cannot be reached, a cached id is loaded offline (the whole process goes offline:
nothing else could be fetched either) and an uncached one is one clear line naming the fixes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from lvrpo.types import LvrpoError

log = logging.getLogger("lvrpo")

PROBE_TIMEOUT = 3.0  # seconds, all of it (name lookup included): the hub answers a HEAD well within that
_reachable: dict[str, bool] = {}  # endpoint -> probe result, once per process


class HubUnavailable(LvrpoError):
    """An id that is neither reachable on the hub nor in the local HF cache."""


def is_hub_id(spec: str) -> bool:
    """`org/name` that is not a local path (the rule `--model`, `--detector` and `clip=` follow)."""
    return not (Path(spec).expanduser().exists() or spec.startswith((".", "/", "~")) or spec.count("/") != 1)


def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def offline_mode(repo_type: str = "model") -> bool:
    """Whether the HF libraries are set to use the local cache only (`HF_HUB_OFFLINE`; datasets also obey
    `HF_DATASETS_OFFLINE`). Read as the libraries read it: an empty value is off."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True
    if repo_type == "dataset":
        import datasets

        return bool(datasets.config.HF_HUB_OFFLINE)
    return False


def hub_reachable() -> bool:
    """One HEAD request to the endpoint (any HTTP answer counts), bounded by PROBE_TIMEOUT, cached per process.
    Run in a thread because httpx's timeouts do not bound the name lookup."""
    url = endpoint()
    if url not in _reachable:
        import httpx

        answered: list[bool] = []

        def probe() -> None:
            try:
                httpx.head(url, timeout=PROBE_TIMEOUT)
                answered.append(True)
            except Exception:  # no route, no name, refused, timed out: all mean unreachable
                answered.append(False)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(PROBE_TIMEOUT)
        _reachable[url] = bool(answered and answered[0])
    return _reachable[url]


def cache_dir(repo_id: str, repo_type: str = "model") -> Path:
    """Where the local HF cache holds `repo_id` in a form its library loads offline: a hub snapshot for models; the
    `load_dataset` cache for datasets (datasets does not read a raw hub snapshot offline)."""
    if repo_type == "dataset":
        import datasets
        from datasets.naming import camelcase_to_snakecase

        org, _, name = repo_id.rpartition("/")  # datasets reads org___snake_name/config/version/hash offline
        return Path(datasets.config.HF_DATASETS_CACHE).expanduser() / f"{org}___{camelcase_to_snakecase(name)}"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"


def is_cached(repo_id: str, repo_type: str = "model") -> bool:
    """Something of `repo_id` is in the local HF cache: a snapshot, or a prepared dataset (config/version/hash)."""
    root = cache_dir(repo_id, repo_type)
    return any(p.is_dir() for p in root.glob("*/*/*" if repo_type == "dataset" else "snapshots/*"))


def ensure_hub(repo_id: str, what: str, repo_type: str = "model") -> bool:
    """Before loading `repo_id` (for `what`, e.g. "--model") from the hub: True when it must be loaded from the
    local cache (pass `local_files_only=True` where the API takes it), False when the hub is there.
    HubUnavailable, one line, when neither the hub nor the cache has it."""
    local = "--data PATH (a local copy of the dataset)" if repo_type == "dataset" else \
        "a local checkpoint directory"
    cache = cache_dir(repo_id, repo_type).parent
    if offline_mode(repo_type):
        if is_cached(repo_id, repo_type):
            return True
        raise HubUnavailable(f"{what} {repo_id}: offline mode (HF_HUB_OFFLINE) is on and it is not in the local HF "
                             f"cache ({cache}); pass {local}, put it in that cache, or unset HF_HUB_OFFLINE")
    if hub_reachable():
        return False
    if is_cached(repo_id, repo_type):
        log.warning("the Hugging Face hub (%s) cannot be reached: using %s from the local HF cache", endpoint(),
                    repo_id)
        go_offline()
        return True
    raise HubUnavailable(f"{what} {repo_id}: the Hugging Face hub ({endpoint()}) could not be reached (no network?) "
                         f"and it is not in the local HF cache ({cache}); pass {local}, or set HF_HUB_OFFLINE=1 to "
                         "use what is in the local HF cache (HF_HOME), or HF_ENDPOINT for a reachable mirror")


def go_offline() -> None:
    """Local cache only from now on, for this process and its children: the libraries read these settings once,
    at import, so their module constants are set too (their HTTP calls then fail at once instead of retrying)."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    if "datasets" in sys.modules:
        import datasets

        datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
