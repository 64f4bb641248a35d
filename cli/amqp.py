"""`livescore amqp`: the broker's configuration files, and its vhosts and service account (SPEC §9)."""

from pathlib import Path
from typing import Annotated

import typer

from cli.broker_setup import setup, without_credentials
from cli.help_format import MARKUP, LivescoreGroup
from cli.runner import fail, settings_of
from domain.amqp_urls import node_urls
from domain.broker_config import enabled_plugins, operators_part, rabbitmq_conf
from domain.errors import BrokerSetupFailed
from domain.settings import Settings

amqp_app = typer.Typer(
    cls=LivescoreGroup,
    rich_markup_mode=MARKUP,
    no_args_is_help=True,
    help="RabbitMQ delivery: the broker's configuration and setup.",
)


@amqp_app.command("config")
def amqp_config(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", file_okay=False)],
) -> None:
    """Write DIR/rabbitmq.conf and DIR/enabled_plugins for this deployment's settings.

    Append listeners, ports and TLS to rabbitmq.conf below its last comment line: writing the files again
    keeps them, and keeps any other plugins enabled_plugins names."""
    try:
        write_config(directory, settings_of(ctx))
    except BrokerSetupFailed as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write the broker's configuration in {directory}: {exc.strerror or exc}")
    typer.echo(f"wrote {directory / 'rabbitmq.conf'} and {directory / 'enabled_plugins'}")


def write_config(directory: Path, settings: Settings) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    conf, plugins = directory / "rabbitmq.conf", directory / "enabled_plugins"
    kept = operators_part(conf.read_text()) if conf.exists() else ""
    if kept is None:
        raise BrokerSetupFailed(
            f"{conf} was not written by `livescore amqp config`: move it away, or choose another DIR"
        )
    try:
        plugin_list = enabled_plugins(plugins.read_text() if plugins.exists() else None)
    except ValueError:
        raise BrokerSetupFailed(f"{plugins} is not a list of plugins: move it away") from None
    conf.write_text(rabbitmq_conf(settings) + kept)
    plugins.write_text(plugin_list)


@amqp_app.command("setup")
def amqp_setup(ctx: typer.Context) -> None:
    """Create the broker's two vhosts and the service's account, through its management API.

    The vhosts are Fixtures and Incidents; the account is the one LIVESCORE_AMQP_URL names, with every
    permission on both; the management API is at LIVESCORE_AMQP_MANAGEMENT_URL."""
    settings = settings_of(ctx)
    try:
        account = setup(settings)
    except BrokerSetupFailed as exc:
        fail(exc.message)
    vhosts = f"{settings.amqp_fixtures_vhost} and {settings.amqp_incidents_vhost}"
    where = ", ".join(without_credentials(url) for url in node_urls(settings.amqp_management_url))
    typer.echo(
        f"vhosts {vhosts} and account {account.username} (all permissions on both) are set up at {where}"
    )
