"""Running host commands with their output captured and their failure explained."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class CommandFailed(RuntimeError):
    """A host command exited non-zero; the message carries the command and its stderr."""


def run(
    command: Sequence[str], check: bool = True, timeout: float = 60.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `command` (stdin: `input`), capturing text output; raise CommandFailed with its stderr when `check`."""
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False, input=input)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise CommandFailed(f"`{' '.join(command)}` exited {result.returncode}: {detail}")
    return result


def succeeds(command: Sequence[str], timeout: float = 60.0) -> bool:
    return run(command, check=False, timeout=timeout).returncode == 0
