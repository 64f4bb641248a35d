"""`livescore replay`: re-apply the commands stream to storage."""

import sys
from typing import Annotated, Any

import typer
from redis.asyncio import Redis
from rich.progress import Progress

from cli.options import package_id_option
from cli.redis_choice import redis_settings
from cli.runner import run, stream_id
from domain.command_log import Replication
from domain.connections import open_redis
from domain.replay import Replay, ReplayOptions, ReplayReport
from domain.settings import Settings
from domain.storage import open_engine
from domain.streams import COMMANDS_STREAM


def replay(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First stream id (default: the oldest).")] = "-",
    end: Annotated[str, typer.Option("--to", help="Last stream id (default: the newest).")] = "+",
    package: Annotated[int | None, package_id_option("--package", "Only this package.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
    ] = False,
    include_snapshots: Annotated[
        bool, typer.Option("--include-snapshots", help="Re-send snapshots and recoveries too.")
    ] = False,
) -> None:
    """Re-apply commands from the stream to storage, newest command per package winning."""
    options = ReplayOptions(stream_id(start, "-"), stream_id(end, "+"), package, dry_run, include_snapshots)
    report = run(_replay(redis_settings(ctx), options))
    _print(report, options)


async def _replay(settings: Settings, options: ReplayOptions) -> ReplayReport:
    redis: Redis = open_redis(settings.redis_address)
    engine = open_engine(settings.database_url)
    try:
        total: Any = await redis.xlen(COMMANDS_STREAM)
        with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
            task = progress.add_task("replaying", total=int(total))
            job = Replay(engine, redis, options, settings.commands_maxlen, Replication.of(settings))
            return await job.run(lambda n: progress.advance(task, n))
    finally:
        await redis.aclose()
        await engine.dispose()


def _print(report: ReplayReport, options: ReplayOptions) -> None:
    verb = "would change" if options.dry_run else "changed"
    for package_id, (before, after) in sorted(report.changed.items()):
        typer.echo(f"package {package_id}: {before.value} -> {after.value}")
    resent = report.snapshots if options.include_snapshots else 0
    typer.echo(
        f"{report.read} entries read: {report.activations} activation commands, {report.snapshots} snapshots "
        f"({resent} {'to re-send' if options.dry_run else 're-sent'}), {report.undecodable} undecodable; "
        f"{len(report.changed)} packages {verb}"
    )
