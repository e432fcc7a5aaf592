"""Progress on a terminal: a rich progress bar on stderr when it is a TTY, nothing otherwise."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ProgressSink = Callable[[str, int, int], None]


@contextmanager
def terminal_progress(*, enabled: bool = True) -> Iterator[ProgressSink]:
    """Yield a `(what, done, total)` callback that draws one bar per `what` on stderr."""
    if not enabled or not sys.stderr.isatty():
        yield lambda what, done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bars: dict[str, TaskID] = {}
    lock = threading.Lock()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:

        def update(what: str, done: int, total: int) -> None:
            with lock:
                if what not in bars:
                    bars[what] = progress.add_task(what, total=total)
                progress.update(bars[what], completed=done, total=total)

        yield update
