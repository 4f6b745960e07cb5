"""Driving the ``gridhub`` command line from tests, as an operator would."""

from __future__ import annotations

import subprocess
import sys


def cli_token(
    env: dict[str, str],
    role: str,
    name: str,
    scope: str | None = None,
    *,
    types: str = "all",
    cap_senders: tuple[str, ...] = (),
) -> str:
    """A new token from ``gridhub token create`` (printed alone on its last line);
    a system token may publish ``types`` (default every type) as ``cap_senders``."""
    args = [sys.executable, "-m", "gridhub", "token", "create", "--role", role, "--name", name]
    if scope is not None:
        args += ["--scope", scope]
    if role == "system":
        args += ["--types", types]
        for sender in cap_senders:
            args += ["--cap-sender", sender]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]
