"""How long the restricted compiler takes on large sources (issue 11: it must stay linear).

    python -m benchmarks.compile_source

Prints the seconds ``check_source`` takes for sources of deep attribute chains (the
red team's 256 KiB upload of them took 85-113 s before the compiler became linear) and for
an ordinary script repeated up to the size limit.
"""

from __future__ import annotations

import time

from sandbox.policy import MAX_SOURCE_BYTES, check_source

ORDINARY = """
class Helper:
    def __init__(self, name: str) -> None:
        self._name = name

    def greet(self, who: str) -> str:
        return "Hello, {0}! I am {1}.".format(who, self._name)


def _reply(query: str) -> str:
    words = [w.strip(".,") for w in query.split() if w]
    return " ".join(reversed(words))
"""


def _timed(source: str) -> float:
    started = time.perf_counter()
    check_source(source)
    return time.perf_counter() - started


def main() -> None:
    for size in (256 * 1024, MAX_SOURCE_BYTES):
        for depth in (50, 150, 400):
            line = "x = a" + ".b" * depth + "\n"
            seconds = _timed(line * (size // len(line)))
            print(f"{size // 1024:5d} KiB of chains {depth:3d} deep: {seconds:6.2f} s")
        seconds = _timed(ORDINARY * (size // len(ORDINARY)))
        print(f"{size // 1024:5d} KiB of ordinary code:       {seconds:6.2f} s")


if __name__ == "__main__":
    main()
