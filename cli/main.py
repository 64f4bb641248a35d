"""`livescore`: schema, packages, and running everything locally."""

import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from cli.amqp import amqp_app
from cli.dead import dead_app
from cli.dev_state import noted_environment
from cli.fixtures import fixtures_app
from cli.help_format import MARKUP, LivescoreGroup
from cli.package import package_app
from cli.queue import queue_app
from cli.redis_choice import choose, remember
from cli.replay import replay
from cli.runner import fail, settings_of, storage_problem
from cli.simulate import simulate
from cli.watch import watch
from domain.logs import redact, redact_last_resort
from domain.settings import Settings
from migrations import schema

app = typer.Typer(
    cls=LivescoreGroup,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    add_completion=False,
    help="Livescore Customers API.",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    cls=LivescoreGroup, rich_markup_mode=MARKUP, no_args_is_help=True, help="The SQL schema."
)
app.add_typer(db_app, name="db")
app.add_typer(package_app, name="package")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(queue_app, name="queue")
app.add_typer(dead_app, name="dead")
app.add_typer(amqp_app, name="amqp")
app.command("replay")(replay)
app.command("simulate")(simulate)
app.command("watch")(watch)


def main(args: Sequence[str] | None = None) -> int:
    """The `livescore` entry point: Click's usage errors as one line and exit status 2, anything
    unexpected as one line and 1 — never a traceback or a framed box. (Typer carries its own copy of
    Click, hence its exceptions from typer._click.)"""
    redact_last_resort()
    try:
        code = typer.main.get_command(app).main(args, prog_name="livescore", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        return 2
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "livescore"
        message = " ".join(exc.format_message().split())
        typer.echo(f"livescore: {message} (see `{where} --help`)", err=True)
        return 2
    except typer.Abort:
        typer.echo("livescore: aborted", err=True)
        return 1
    except ClickException as exc:
        typer.echo(f"livescore: {' '.join(exc.format_message().split())}", err=True)
        return exc.exit_code
    except Exception as exc:  # the last resort of "one line, never a traceback"
        reason = " ".join(redact(str(exc)).split())[:300]
        typer.echo(f"livescore: unexpected {type(exc).__name__}: {reason}", err=True)
        return 1
    return code if isinstance(code, int) else 0


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"livescore {metadata.version('livescore-engage')}")
        raise typer.Exit()


@app.callback()
def settings_from_env(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Livescore Customers API."""
    # The environment is read once, here; a test hands its own Settings in as `obj` instead. A running
    # `livescore dev` of this folder notes where its servers are; the environment still wins.
    if ctx.obj is None:
        noted = noted_environment()
        try:
            ctx.obj = Settings.from_env({**noted, **os.environ})
        except ValueError as exc:
            fail(str(exc))
        remember(ctx, choose(os.environ, noted))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the schema at DATABASE_URL."""
    try:
        schema.upgrade(settings_of(ctx).database_url)
    except SQLAlchemyError as exc:
        fail(f"cannot migrate the schema: {storage_problem(exc)}")
    typer.echo("schema is up to date")


@app.command("dev")
def dev(
    no_simulate: Annotated[
        bool, typer.Option("--no-simulate", help="No live demo matches (`livescore simulate`).")
    ] = False,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="The ingress's port.")] = None,
    amqp: Annotated[
        bool, typer.Option("--amqp", help="Deliver over AMQP, to a private RabbitMQ node (rabbitmq-server).")
    ] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Deliver over AMQP to a private three-node RabbitMQ cluster, quorum queues; Redis is a "
            "primary, two replicas and three sentinels (redis-server), to kill the primary and watch.",
        ),
    ] = False,
) -> None:
    """Everything on this machine in one command: Redis, SQLite, the ingress and a worker.

    Redis is an embedded server, unless REDIS_URL or REDIS_SENTINELS is set (Redis behind Sentinel with
    --cluster).

    Live demo matches are played too (`livescore simulate --repeat`), unless --no-simulate.
    """
    from cli.dev import run_dev

    sys.exit(run_dev(simulate=not no_simulate, port=port, amqp=amqp, cluster=cluster))
