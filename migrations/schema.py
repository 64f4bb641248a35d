"""Creating or migrating the SQL schema with the Alembic migrations beside this module.

Here, not in domain/: the migrations' environment imports the domain's models and engine, so a domain
module that ran the migrations made domain and migrations import each other.
"""

import contextlib
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url


def upgrade(database_url: str, revision: str = "head") -> None:
    _create_private_sqlite_file(database_url)
    command.upgrade(_config(database_url), revision)


def _create_private_sqlite_file(database_url: str) -> None:
    """A new SQLite file is made readable by its owner alone (0600, whatever the umask): it holds the
    packages' Argon2 hashes. An existing file is left as it is; when the file cannot be made here, SQLite
    says why when it opens it."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    with contextlib.suppress(OSError):
        os.close(os.open(str(url.database), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url)
    return config
