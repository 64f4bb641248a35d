"""The SQLite write-ahead log copied back into the database by a thread of its own.

SQLite checkpoints the log itself in whichever commit takes it past 1,000 pages, and that commit then
copies and syncs the pages before it returns. The worker commits on its event loop (domain/transactions.py),
so every second or two one incident round stalled for 5–8 ms there (measured at 200 incidents/s, issue 22).
Its connections turn that off (`wal_autocheckpoint=0`) and this thread checkpoints every second instead, in
PASSIVE mode: it takes no lock a writer needs, and the driver lets go of the GIL while it works. Other
processes (the ingress, the command line) keep SQLite's own checkpoints.
"""

import logging
import sqlite3
import threading

from domain.logs import OccasionalWarning

log = logging.getLogger("domain.wal_checkpoints")

EVERY_S = 1.0
FAILED_LOG_S = 60.0


class WalCheckpoints:
    def __init__(self, database: str, every_s: float = EVERY_S) -> None:
        self._database, self._every_s = database, every_s
        self._stopping = threading.Event()
        self._failed = OccasionalWarning(log, FAILED_LOG_S, "write-ahead log checkpoint failed")
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while not self._stopping.wait(self._every_s):
            try:
                if connection is None:
                    connection = sqlite3.connect(self._database, isolation_level=None)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the file gone or unreadable for now: the next second tries again
                self._failed.note(str(exc))
        if connection is not None:
            connection.close()
