"""Driving the ``gridhub`` command line from tests, as an operator would."""

from __future__ import annotations

import subprocess
import sys


def cli_token(env: dict[str, str], role: str, name: str, scope: str | None = None) -> str:
    """A new token from ``gridhub token create`` (printed alone on its last line)."""
    args = [sys.executable, "-m", "gridhub", "token", "create", "--role", role, "--name", name]
    if scope is not None:
        args += ["--scope", scope]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]
