"""Word counts over a directory tree, read asynchronously, reduced as a stream.

- ``file_path`` is an async expander: it walks the tree one directory at a time and yields
  each file as soon as its directory is listed, so reading starts before the walk ends;
- ``text`` reads one file with aiofiles, without blocking the event loop, many files at once;
- ``word_counts`` counts one file's words;
- ``word_totals`` and ``files_read`` are streaming collectors (``CollectStream``): they take
  the per-file counts one by one, so memory holds the expansion's window, not every file.

Run it with ``python examples/wordcount_files.py``: it writes a few hundred generated files
to a temporary directory, counts them, prints the top words and the totals, and checks them
against a plain Python computation (exit status 1 if they differ). From the command line::

    asyncdag run examples/wordcount_files.py --output top_words --input root=some/dir
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import re
import tempfile
from collections import Counter

import aiofiles

from asyncdag.htypes import CollectStream, Parallelizable

_WORD = re.compile(r"[a-z']+")


async def file_path(root: str) -> Parallelizable[str]:
    """Every file under ``root``, yielded as each directory is listed (not all first)."""
    pending = collections.deque([root])
    while pending:
        # listing a directory blocks, so it runs on a thread: one hop per directory
        subdirectories, files = await asyncio.to_thread(_list_directory, pending.popleft())
        pending.extend(subdirectories)
        for path in files:
            yield path


def _list_directory(directory: str) -> tuple[list[str], list[str]]:
    """One directory's subdirectories and files, by name."""
    subdirectories, files = [], []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.path)
            elif entry.is_file():
                files.append(entry.path)
    return subdirectories, files


async def text(file_path: str) -> str:
    """One file's text, read without blocking the event loop."""
    async with aiofiles.open(file_path, encoding="utf-8") as f:
        return await f.read()


def word_counts(text: str) -> Counter[str]:
    """How often each word occurs in one file."""
    return Counter(_WORD.findall(text.lower()))


async def word_totals(word_counts: CollectStream[Counter[str]]) -> Counter[str]:
    """All files' counts added up, one file at a time as its count arrives."""
    total: Counter[str] = Counter()
    async for counts in word_counts:
        total.update(counts)
    return total


async def files_read(word_counts: CollectStream[Counter[str]]) -> int:
    """How many files were counted (a second streaming collector of the same values)."""
    n = 0
    async for _ in word_counts:
        n += 1
    return n


def top_words(word_totals: Counter[str], top_n: int = 10) -> list[tuple[str, int]]:
    """The ``top_n`` most frequent words, ties broken alphabetically."""
    return sorted(word_totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]


def total_words(word_totals: Counter[str]) -> int:
    """How many words all files hold together."""
    return sum(word_totals.values())


# -- running it as a script ------------------------------------------------------------------

_WORDS = (
    "the of and to in is it that stream item block window async await yield collect expand"
    " node graph task loop file word count tree read write fast slow many few every"
)
_VOCABULARY = _WORDS.split()


def _make_tree(root: str, n_files: int, seed: int = 7) -> None:
    """``n_files`` text files spread over nested directories, words drawn Zipf-like."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(_VOCABULARY))]
    for i in range(n_files):
        parts = [f"d{rng.randrange(4)}" for _ in range(rng.randrange(4))]
        directory = os.path.join(root, *parts)
        os.makedirs(directory, exist_ok=True)
        words = rng.choices(_VOCABULARY, weights, k=rng.randrange(20, 200))
        lines = [" ".join(words[j : j + 12]).capitalize() + "." for j in range(0, len(words), 12)]
        with open(os.path.join(directory, f"file{i:04d}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def _reference(root: str) -> tuple[Counter[str], int]:
    """The same counts, with os.walk and plain reads."""
    total: Counter[str] = Counter()
    files = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                total.update(_WORD.findall(f.read().lower()))
            files += 1
    return total, files


def _main() -> int:
    import sys

    from asyncdag import driver

    dr = driver.Builder().with_modules(sys.modules[__name__]).build()
    with tempfile.TemporaryDirectory() as root:
        _make_tree(root, n_files=300)
        result = dr.execute(
            ["top_words", "total_words", "files_read", "word_totals"],
            inputs={"root": root, "top_n": 8},
        )
        expected_totals, expected_files = _reference(root)
    print(f"{result['files_read']} files, {result['total_words']} words; top words:")
    for word, n in result["top_words"]:
        print(f"  {word:<8} {n}")
    expected_top = sorted(expected_totals.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    ok = (
        result["word_totals"] == expected_totals
        and result["files_read"] == expected_files
        and result["total_words"] == sum(expected_totals.values())
        and result["top_words"] == expected_top
    )
    print("matches a plain Python count" if ok else "MISMATCH with a plain Python count")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_main())
