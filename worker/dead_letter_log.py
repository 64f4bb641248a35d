"""Dead-lettered incidents, logged as one count per interval: a flood of them is one line every few
seconds, not one line each (every dead letter is in `livescore:incidents:dead` with its reason)."""

import logging
import time
from collections import Counter
from collections.abc import Iterable

from domain.incident_order import DeadReason

# One line at most this often while incidents are being dead-lettered.
INTERVAL_S = 10.0


class DeadLetterLog:
    def __init__(self, log: logging.Logger, interval_s: float = INTERVAL_S) -> None:
        self._log = log
        self._interval_s = interval_s
        self._counts: Counter[DeadReason] = Counter()
        self._since = time.monotonic()

    def add(self, reasons: Iterable[DeadReason]) -> None:
        self._counts.update(reasons)

    def maybe_log(self) -> None:
        """The line for the interval, once it is over."""
        if time.monotonic() - self._since >= self._interval_s:
            self.flush()

    def flush(self) -> None:
        if self._counts:
            total = sum(self._counts.values())
            reasons = ", ".join(f"{reason.value}: {n:,}" for reason, n in sorted(self._counts.items()))
            self._log.warning(
                "%s incidents dead-lettered in the last %.0f s (%s); see livescore dead list --incidents",
                f"{total:,}",
                time.monotonic() - self._since,
                reasons,
            )
        self._counts.clear()
        self._since = time.monotonic()
