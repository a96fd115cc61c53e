"""Fixtures shared by all tests."""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports huggingface_hub (it reads these once, at import): tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest

from tests.util import SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared (real benchmark files). Its absence is a failure, never a skip."""
    assert SHARED.is_dir(), f"expected the shared data folder at {SHARED}"
    return SHARED


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
