"""One seed from which every id and every fault decision derives.

Each consumer draws from its own named stream (``seed.stream("sumsub.ids")``), so that adding a
draw in one fake never shifts the numbers another fake sees: a run replays exactly.
"""

from __future__ import annotations

import hashlib
import random
import uuid

__all__ = ["Seed"]


class Seed:
    def __init__(self, value: int = 0) -> None:
        self.value = value
        self._streams: dict[str, random.Random] = {}

    def stream(self, name: str) -> random.Random:
        if name not in self._streams:
            digest = hashlib.sha256(f"{self.value}:{name}".encode()).digest()
            self._streams[name] = random.Random(int.from_bytes(digest[:8], "big"))
        return self._streams[name]

    def hex(self, name: str, length: int) -> str:
        rng = self.stream(name)
        return "".join(rng.choice("0123456789abcdef") for _ in range(length))

    def uuid(self, name: str) -> str:
        return str(uuid.UUID(int=self.stream(name).getrandbits(128), version=4))

    def token(self, name: str, length: int = 32) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        rng = self.stream(name)
        return "".join(rng.choice(alphabet) for _ in range(length))

    def reset(self) -> None:
        self._streams.clear()
