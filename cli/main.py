"""`livescore`: schema, packages, and running everything locally."""

import sys
from collections.abc import Awaitable, Sequence
from typing import Annotated, Any

import typer
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from cli.amqp import amqp_app
from cli.dead import dead_app
from cli.fixtures import fixtures_app
from cli.queue import queue_app
from cli.replay import replay
from cli.runner import fail, in_transaction, run, settings_of, storage_problem
from cli.simulate import simulate
from cli.watch import watch
from delivery import open_delivery
from domain import packages, schema
from domain.connections import open_redis
from domain.package_view import PackageView, refresh_from_storage
from domain.settings import Settings
from domain.storage import open_engine

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Livescore Customers API.",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help="The SQL schema.")
package_app = typer.Typer(no_args_is_help=True, help="Customers' packages.")
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
        typer.echo(
            f"livescore: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", err=True
        )
        return 1
    return code if isinstance(code, int) else 0


@app.callback()
def settings_from_env(ctx: typer.Context) -> None:
    """Livescore Customers API."""
    # The environment is read once, here; a test hands its own Settings in as `obj` instead.
    if ctx.obj is None:
        try:
            ctx.obj = Settings.from_env()
        except ValueError as exc:
            fail(str(exc))


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
    id: Annotated[int, typer.Option("--id", min=1, max=2_147_483_647)],
    username: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    active: Annotated[bool, typer.Option("--active")] = False,
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
    settings = settings_of(ctx)

    async def job(conn: Any) -> None:
        await packages.add_package(
            conn, id, username, password, active=active, sports=sport or (), leagues=league or ()
        )

    run(_then_refresh(settings, [id], in_transaction(settings, job), provision=active))
    typer.echo(f"package {id} added ({'active' if active else 'inactive'})")


@package_app.command("set-password")
def package_set_password(
    ctx: typer.Context,
    id: Annotated[int, typer.Option("--id")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Replace a package's password; every remembered login of it stops working at once."""
    if not password:
        fail("password must not be empty")
    run(_set_password(settings_of(ctx), id, password))
    typer.echo(f"password of package {id} replaced")


async def _then_refresh(
    settings: Settings, package_ids: list[int], write: Awaitable[None], provision: bool = False
) -> None:
    """A write outside the commands stream, then the Redis copy of those packages made to agree with
    storage (SPEC §2.5): a package added again on a recreated database must not keep the old copy's
    status. Active packages get their queues (SPEC §9), as an activation would."""
    await write
    redis: Redis = open_redis(settings.redis_url)
    engine = open_engine(settings.database_url)
    delivery = open_delivery(settings, redis)
    try:
        await refresh_from_storage(engine, PackageView(redis, queue_limit=settings.queue_limit), package_ids)
        for package_id in package_ids if provision else []:
            await delivery.provision(package_id)
    finally:
        await delivery.close()
        await redis.aclose()
        await engine.dispose()


async def _set_password(settings: Settings, package_id: int, password: str) -> None:
    redis: Redis = open_redis(settings.redis_url)
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
def package_list(ctx: typer.Context) -> None:
    """Every package: id, username, status. Never a password or its hash."""
    rows = run(in_transaction(settings_of(ctx), packages.list_packages))
    for package_id, username, status in rows:
        typer.echo(f"{package_id}\t{username}\t{status}")


@app.command("dev")
def dev(
    no_simulate: Annotated[
        bool, typer.Option("--no-simulate", help="No live demo matches (`livescore simulate`).")
    ] = False,
) -> None:
    """Everything on this machine: embedded Redis (unless REDIS_URL is set), SQLite, ingress, one worker.

    Live demo matches are played too (`livescore simulate --repeat`), unless --no-simulate.
    """
    from cli.dev import run_dev

    sys.exit(run_dev(simulate=not no_simulate))
