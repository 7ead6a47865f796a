"""The cache benchmark runs: every part at a tiny size. No timing is asserted here."""

from __future__ import annotations

import pytest

from benchmarks import cache

pytestmark = pytest.mark.filterwarnings("ignore")


def test_the_cache_benchmark_runs_every_system() -> None:
    rows = cache.bench(small=True)
    systems = {r.system for r in rows}
    assert systems >= {
        cache.NO_CACHE,
        cache.MISS,
        cache.HIT_MEMORY,
        cache.HIT_DISK,
        cache.H_CACHED,
        cache.A_CACHED,
        cache.A_DISK,
        cache.COLD,
        cache.WARM,
        cache.CLI_COLD,
        cache.CLI_WARM,
    }
    assert all(r.value > 0 for r in rows)
    assert len(cache.targets(rows)) == 4
