"""`livescore package`: customers' packages in storage, their Redis copy and their queues kept in line."""

import json
from collections.abc import Awaitable
from typing import Annotated, Any

import msgspec
import typer
from redis.asyncio import Redis

from cli.help_format import MARKUP, LivescoreGroup
from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import fail, in_transaction, run, settings_of
from delivery import open_delivery
from domain import packages
from domain.connections import open_redis
from domain.delivery import QueueKind
from domain.package_view import PackageView, refresh_from_storage
from domain.settings import Settings
from domain.storage import open_engine
from domain.subscriptions import package_subscriptions

package_app = typer.Typer(
    cls=LivescoreGroup, rich_markup_mode=MARKUP, no_args_is_help=True, help="Customers' packages."
)


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
