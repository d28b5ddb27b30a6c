"""Shared fixtures: the test-only ``attenuator`` backend registered for a test, and a short
real-speech manifest. The factories behind them are in :mod:`tests.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hltk import registry
from tests.helpers import AttenuatorProcessor, make_speech_manifest


@pytest.fixture
def attenuator() -> Iterator[type[AttenuatorProcessor]]:
    registry.register("simulate", "attenuator", AttenuatorProcessor, "test-only attenuator")
    yield AttenuatorProcessor
    AttenuatorProcessor.interrupt_on = set()
    registry.unregister("simulate", "attenuator")


@pytest.fixture
def speech_manifest(tmp_path: Path) -> Path:
    return make_speech_manifest(tmp_path / "corpus")
