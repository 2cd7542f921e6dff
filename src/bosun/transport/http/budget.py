"""A process-wide bound on the memory that requests being decoded and served may take.

Per connection, the body limit bounds the bytes; it does not bound what decoding them
costs (up to 25 times as much), nor how many such requests run at once. The budget
charges each request its estimated decoded size (`protocol.jsonrpc.parse_cost`) for as
long as it is being served: one that could never fit is refused with 413, one that does
not fit now with 503 and `Retry-After`, so the process stays inside its memory limit.
"""

from __future__ import annotations


class MemoryBudget:
    __slots__ = ("total", "used")

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    def take(self, amount: int) -> bool:
        if self.used + amount > self.total:
            return False
        self.used += amount
        return True

    def give(self, amount: int) -> None:
        self.used -= amount
