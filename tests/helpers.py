"""Running manage.py as a user would: in a subprocess, from the project root."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str] | None = None, timeout: int = 120):
    """Run `python manage.py ARGS` with the test environment plus env; returns CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
