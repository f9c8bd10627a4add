from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_restore_drill_restores_every_row_and_the_history() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/restore_drill.py", "--synthetic", "300"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_ENV": "development"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Restore drill passed" in result.stdout
    assert "of them audit history" in result.stdout
