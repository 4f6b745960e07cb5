"""Progress on a terminal for the long-running tools (``gridhub simulate``, ``gridhub
bench``): one status line that updates in place on a terminal, and that becomes a
new line every few seconds when the output is a file or a pipe (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StatusLine:
    """One updating status line on a stream (a new line every few seconds when
    the stream is not a terminal)."""

    def __init__(self, out: TextIO | None = None, every: float = 0.25) -> None:
        self.out = out if out is not None else sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.every = every if self.tty else max(every, 2.0)
        self._last = 0.0
        self._width = 0

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        if self.tty:
            pad = max(0, self._width - len(text))
            self.out.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def done(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self.out.flush()
        self._width = 0
