"""`livescore fixtures import|generate`: put fixtures into storage."""

import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncConnection

from cli.help_format import MARKUP, LivescoreGroup
from cli.runner import fail, in_transaction, run, settings_of
from domain.errors import BadFixture
from domain.fixture_store import store_fixtures
from domain.fixtures import Fixture, decode_fixture

fixtures_app = typer.Typer(
    cls=LivescoreGroup, rich_markup_mode=MARKUP, no_args_is_help=True, help="Fixtures in storage."
)

# Fixtures written per statement; bounds memory while a large import or generation runs.
WRITE_CHUNK = 1000


@fixtures_app.command("import")
def import_fixtures(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import a JSON array or JSON lines of fixture bodies (docs/CONTRACT.md field names); all or nothing."""
    try:
        fixtures = list(read_fixtures(file.read_bytes()))
    except BadFixture as exc:
        fail(f"{file}: {exc}; nothing imported")
    run(in_transaction(settings_of(ctx), lambda conn: _store(conn, fixtures, len(fixtures))))
    typer.echo(f"imported {len(fixtures)} fixtures")


@fixtures_app.command("generate")
def generate_fixtures(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("--count", min=1)],
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Realistic demo fixtures, the same for the same seed (within the hour)."""
    from cli.demo_fixtures import generate

    run(in_transaction(settings_of(ctx), lambda conn: _store(conn, generate(count, seed), count)))
    typer.echo(f"generated {count} fixtures (seed {seed})")


def read_fixtures(data: bytes) -> Iterator[Fixture]:
    """Every fixture of a file, validated; the first bad one raises BadFixture with its place."""
    if data.lstrip().startswith(b"["):
        yield from _read_array(data)
        return
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            try:
                yield decode_fixture(line)
            except msgspec.DecodeError as exc:
                raise BadFixture(f"line {number}: {exc}") from None


def _read_array(data: bytes) -> list[Fixture]:
    try:
        return msgspec.json.decode(data, type=list[Fixture])
    except msgspec.DecodeError as exc:
        raise BadFixture(str(exc)) from None


async def _store(conn: AsyncConnection, fixtures: Iterable[Fixture], total: int) -> None:
    with Progress(disable=total < WRITE_CHUNK or not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("storing fixtures", total=total)
        iterator = iter(fixtures)
        while chunk := list(itertools.islice(iterator, WRITE_CHUNK)):
            await store_fixtures(conn, chunk)
            progress.advance(task, len(chunk))
