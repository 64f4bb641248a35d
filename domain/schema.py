"""Creating or migrating the SQL schema with the Alembic migrations shipped in the package."""

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(_config(database_url), revision)


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url)
    return config
