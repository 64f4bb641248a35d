"""What a load run aims at and what it measured: shared by the load generator's interface (bench/loadgen.py)
and its two drivers (wrk, the asyncio socket client), which bench/loadgen.py chooses between."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    """What to load: POST `body` to each path in turn, per connection, on 127.0.0.1:`port`."""

    port: int
    paths: tuple[str, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class LoadResult:
    generator: str
    concurrency: int
    duration_s: float
    requests: int
    # Socket errors, timeouts and answers of 400 and above: any of them makes the figures suspect.
    errors: int
    p50_ms: float
    p99_ms: float
    # Generator process CPU time / wall time; 1.0 is one core busy, the point where it would be the limit.
    cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": self.rps}


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list; 0 for an empty one."""
    if not sorted_values:
        return 0
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]
