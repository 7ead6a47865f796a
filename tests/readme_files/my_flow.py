"""The README's `my_flow.py`: a reader's dataflow module, with a config switch and a block."""

from collections import Counter

from asyncdag.function_modifiers import config
from asyncdag.htypes import Collect, Parallelizable


def line(text: str) -> Parallelizable[str]:
    yield from text.splitlines()


@config.when(mode="fast")
def words__fast(line: str) -> list[str]:
    return line.lower().split()


@config.when_not(mode="fast")
def words__careful(line: str) -> list[str]:
    return [w.strip(".,;:!?").lower() for w in line.split()]


def counts(words: Collect[list[str]]) -> Counter[str]:
    return Counter(w for ws in words for w in ws)


def top_words(counts: Counter[str], top_n: int = 5) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
