"""What the command tests share: a work directory with the two seed articles settled in
its watched folder."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder / seed.name)
        os.utime(folder / seed.name, (time.time() - 60,) * 2)
    return tmp_path
