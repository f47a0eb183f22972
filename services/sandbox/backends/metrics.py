"""Counters of the Docker sandbox pools, read as one plain dict (log lines, the RPC op).

Gauges (how many containers are idle, leased, starting) are read from the pools when
asked; the counters here only ever grow while the backend lives.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LanguageGauge:
    size: int  # target: idle + leased + starting
    idle: int
    leased: int
    starting: int


@dataclass
class PoolCounters:
    """Events per language since the backend started."""

    created: Counter[str] = field(default_factory=Counter)
    create_failures: Counter[str] = field(default_factory=Counter)
    destroyed: Counter[str] = field(default_factory=Counter)
    acquired: Counter[str] = field(default_factory=Counter)
    waits: Counter[str] = field(default_factory=Counter)  # acquires that found no idle one
    wait_timeouts: Counter[str] = field(default_factory=Counter)
    reaped: Counter[str] = field(default_factory=Counter)  # leases past their TTL
    leftovers_removed: int = 0  # containers of an earlier, crashed run


def metrics_dict(gauges: dict[str, LanguageGauge], counters: PoolCounters) -> dict[str, Any]:
    """One JSON-ready dict: per language gauges and counters, and the totals."""
    per_language = {
        language: {
            "size": gauge.size,
            "idle": gauge.idle,
            "leased": gauge.leased,
            "starting": gauge.starting,
            **_counts_of(counters, language),
        }
        for language, gauge in gauges.items()
    }
    return {
        "backend": "docker",
        "languages": per_language,
        "leases_in_use": sum(gauge.leased for gauge in gauges.values()),
        "waits": sum(counters.waits.values()),
        "reaped": sum(counters.reaped.values()),
        "leftovers_removed": counters.leftovers_removed,
    }


def _counts_of(counters: PoolCounters, language: str) -> dict[str, int]:
    names = ("created", "create_failures", "destroyed", "acquired", "waits", "wait_timeouts")
    return {name: getattr(counters, name)[language] for name in (*names, "reaped")}
