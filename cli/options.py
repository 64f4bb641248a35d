"""Options several `livescore` commands share, so that each is checked, and refused, the same way."""

from typing import Any

import typer

from domain.commands import MAX_PACKAGE_ID


def package_id_option(name: str = "--id", help: str | None = None) -> Any:
    """A package id option: 1 to MAX_PACKAGE_ID, as the API accepts; anything else is a usage error."""
    return typer.Option(name, min=1, max=MAX_PACKAGE_ID, help=help)
