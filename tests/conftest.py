"""Fixtures shared by all tests."""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports huggingface_hub (it reads these once, at import): tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest

from tests.util import REFDATA


@pytest.fixture(scope="session")
def refdata() -> Path:
    """tests/data: real public benchmark files and published outputs (provenance in tests/data/SOURCES.md)."""
    return REFDATA


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
