"""The dotenv file a running stack (or a fake on its own) writes, held for as long as it runs.

A stack keeps an advisory lock on the file it wrote until it stops (the system releases it when the
process dies, however it dies). A second stack asked for the same file finds it locked and writes
``<stem>.<name><suffix>`` beside it instead, so ``python3 dev.py up`` beside a running stack never
overwrites the facts the first one's users are reading.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: files are not locked, the first path is always taken
    fcntl = None  # type: ignore[assignment]

__all__ = ["HEADER", "held_env_file"]

HEADER = "# Written by python -m sim. Secrets here are the fakes' own, made from the seed."


def _try_lock(path: Path) -> int | None:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is None:
        return descriptor
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


@contextlib.contextmanager
def held_env_file(path: Path, name: str, env: Mapping[str, str]) -> Iterator[Path]:
    """Write ``env`` to ``path`` (mode 0600), or beside it when a running stack holds ``path``;
    yields the path written, held until the block ends."""
    descriptor = _try_lock(path)
    if descriptor is None:
        path = path.with_name(f"{path.stem}.{name}{path.suffix}")
        descriptor = _try_lock(path)
        if descriptor is None:
            raise RuntimeError(f"{path} is held by another running stack named {name!r}")
    try:
        os.fchmod(descriptor, 0o600)
        os.ftruncate(descriptor, 0)
        text = "\n".join([HEADER, *(f"{key}={value}" for key, value in env.items())]) + "\n"
        os.write(descriptor, text.encode())
        yield path
    finally:
        os.close(descriptor)
