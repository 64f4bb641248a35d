"""`livescore`: schema, packages, and running everything locally."""

import json
import os
import sys
from collections.abc import Awaitable, Sequence
from importlib import metadata
from typing import Annotated, Any

import msgspec
import typer
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from cli.amqp import amqp_app
from cli.dead import dead_app
from cli.dev_state import noted_environment
from cli.fixtures import fixtures_app
from cli.help_format import MARKUP, LivescoreGroup
from cli.options import package_id_option
from cli.queue import queue_app
from cli.redis_choice import choose, redis_settings, remember
from cli.replay import replay
from cli.runner import fail, in_transaction, run, settings_of, storage_problem
from cli.simulate import simulate
from cli.watch import watch
from delivery import open_delivery
from domain import packages
from domain.connections import open_redis
from domain.delivery import QueueKind
from domain.logs import redact, redact_last_resort
from domain.package_view import PackageView, refresh_from_storage
from domain.settings import Settings
from domain.storage import open_engine
from domain.subscriptions import package_subscriptions
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
package_app = typer.Typer(
    cls=LivescoreGroup, rich_markup_mode=MARKUP, no_args_is_help=True, help="Customers' packages."
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


@package_app.command("add")
def package_add(
    ctx: typer.Context,
    id: Annotated[int, package_id_option()],
    username: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    active: Annotated[
        bool, typer.Option("--active", help="Active at once: its queues are made and messages flow.")
    ] = False,
    sport: Annotated[
        list[int] | None, typer.Option("--sport", help="Subscribe to a sport (repeatable).")
    ] = None,
    league: Annotated[
        list[int] | None, typer.Option("--league", help="Subscribe to a league (repeatable).")
    ] = None,
) -> None:
    """Create a package. Without --sport/--league it subscribes to every fixture."""
    if not username.strip() or not password:
        fail("username and password must not be empty")
    settings = redis_settings(ctx)

    async def job(conn: Any) -> None:
        await packages.add_package(
            conn, id, username, password, active=active, sports=sport or (), leagues=league or ()
        )

    run(_then_follow(settings, [id], in_transaction(settings, job)))
    typer.echo(f"package {id} added ({'active' if active else 'inactive'})")


@package_app.command("set-password")
def package_set_password(
    ctx: typer.Context,
    id: Annotated[int, package_id_option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Replace a package's password; every remembered login of it stops working at once."""
    if not password:
        fail("password must not be empty")
    run(_set_password(redis_settings(ctx), id, password))
    typer.echo(f"password of package {id} replaced")


async def _then_follow(
    settings: Settings, package_ids: list[int], write: Awaitable[None], removed: bool = False
) -> None:
    """A write outside the commands stream, then the Redis copy of those packages made to agree with
    storage (SPEC §2.5): a package added again on a recreated database must not keep the old copy's
    status. Their queues then follow the copy, as after an activation (SPEC §9): an active package's
    exist and get what its subscriptions ask for, a removed one's get nothing more."""
    await write
    redis: Redis = open_redis(settings.redis_address)
    engine = open_engine(settings.database_url)
    delivery = open_delivery(settings, redis)
    try:
        view = PackageView(redis, queue_limit=settings.queue_limit)
        await refresh_from_storage(engine, view, package_ids)
        if removed:
            await view.forget(package_ids)
        async with engine.connect() as conn:
            subscribed = await package_subscriptions(conn, package_ids)
        await delivery.follow(redis.pipeline(transaction=False), {p: subscribed.get(p) for p in package_ids})
    finally:
        await delivery.close()
        await redis.aclose()
        await engine.dispose()


async def _set_password(settings: Settings, package_id: int, password: str) -> None:
    redis: Redis = open_redis(settings.redis_address)
    try:
        view = PackageView(redis)
        # Forget first: should anything below fail, logins are re-verified against storage, never the
        # old password trusted. Then store, then publish the new version.
        await view.forget_credentials(package_id)
        version = await in_transaction(
            settings, lambda conn: packages.set_password(conn, package_id, password)
        )
        await view.replace_credentials(package_id, version)
    finally:
        await redis.aclose()


@package_app.command("list")
def package_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every package: id, username, status. Never a password or its hash."""
    rows = run(in_transaction(settings_of(ctx), packages.list_packages))
    for package_id, username, status in rows:
        if as_json:
            typer.echo(json.dumps({"id": package_id, "username": username, "status": status}))
        else:
            typer.echo(f"{package_id}\t{username}\t{status}")


@package_app.command("show")
def package_show(ctx: typer.Context, id: Annotated[int, package_id_option()]) -> None:
    """A package: its status and why, its subscriptions and its queues. Never a password or its hash."""
    settings = redis_settings(ctx)
    details = run(in_transaction(settings, lambda conn: packages.package_details(conn, id)))
    figures = run(_queue_figures(settings, id))
    typer.echo(f"id: {details.id}\nusername: {details.username}\nstatus: {details.status}")
    typer.echo(f"reason: {details.reason or '-'}")
    everything = not details.sports and not details.leagues
    typer.echo(f"sports: {_ids(details.sports, everything)}\nleagues: {_ids(details.leagues, everything)}")
    for kind, queue in figures.items():
        typer.echo(f"{kind} queue: {json.dumps(msgspec.to_builtins(queue))}")


def _ids(ids: list[int], everything: bool) -> str:
    return "every one" if everything else " ".join(map(str, ids)) or "-"


async def _queue_figures(settings: Settings, package_id: int) -> dict[str, Any]:
    redis: Redis = open_redis(settings.redis_address)
    delivery = open_delivery(settings, redis)
    try:
        return {kind.value: await delivery.figures(package_id, kind) for kind in QueueKind}
    finally:
        await delivery.close()
        await redis.aclose()


@package_app.command("remove")
def package_remove(
    ctx: typer.Context,
    id: Annotated[int, package_id_option()],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove a package and its subscriptions; the ingress stops answering for it at once.

    Its queues stay, with whatever they hold, until the broker or an operator removes them.
    """
    settings = redis_settings(ctx)
    if not yes:
        typer.confirm(f"remove package {id}?", abort=True)
    run(
        _then_follow(
            settings, [id], in_transaction(settings, lambda conn: packages.remove_package(conn, id)), True
        )
    )
    typer.echo(f"package {id} removed")


@package_app.command("set-subscriptions")
def package_set_subscriptions(
    ctx: typer.Context,
    id: Annotated[int, package_id_option()],
    sport: Annotated[list[int] | None, typer.Option("--sport", help="A sport (repeatable).")] = None,
    league: Annotated[list[int] | None, typer.Option("--league", help="A league (repeatable).")] = None,
) -> None:
    """Replace a package's subscriptions; with no --sport and no --league it gets every fixture."""

    async def job(conn: Any) -> None:
        await packages.replace_subscriptions(conn, id, sports=sport or (), leagues=league or ())

    settings = redis_settings(ctx)
    run(_then_follow(settings, [id], in_transaction(settings, job)))
    typer.echo(f"package {id} now subscribes to {_subscribed(sport or [], league or [])}")


def _subscribed(sports: list[int], leagues: list[int]) -> str:
    if not sports and not leagues:
        return "every fixture"
    named = [f"sport {s}" for s in sorted(set(sports))] + [f"league {x}" for x in sorted(set(leagues))]
    return ", ".join(named)


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
