"""Progress of a long operator command (``verify-audit``, ``rotate-keys``) on stderr: rows done of the total, the
rate and the time left.

On a terminal a ``tqdm`` bar is redrawn in place every half second; otherwise (a CI log, ``kubectl logs``) a plain
line every ``line_seconds`` and one at the end, each formatted by tqdm too, so both read the same. tqdm is small,
has no dependencies of its own and computes rate and time left smoothed; it only lacks the plain-line mode, which
``\\r`` redraws would garble in a log. The command's result stays on stdout, unchanged.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm


class Progress:
    def __init__(self, what: str, total: int, *, unit: str = "rows", stream: TextIO | None = None,
                 line_seconds: float = 10.0) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.line_seconds = line_seconds
        self.done = 0
        self._started = self._last_line = time.monotonic()
        self._bar = (tqdm(total=total, desc=what, unit=f" {unit}", file=self.stream, mininterval=0.5,
                          dynamic_ncols=True) if self.stream.isatty() else None)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_line >= self.line_seconds:
            self._last_line = now
            self._line(now)

    def _line(self, now: float) -> None:
        meter = tqdm.format_meter(self.done, max(self.total, self.done), now - self._started, unit=f" {self.unit}",
                                  prefix=self.what, ncols=0)
        print(meter, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._line(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
