"""Which Redis a `livescore` command uses: said in one line on stderr, and refused when nobody named one.

Without REDIS_URL, the service's default is 127.0.0.1:6379: on a developer's machine that is often a Redis
of something else entirely, which a command would silently write demo matches or commands into. So the
command line uses only a Redis that was named: REDIS_URL or REDIS_SENTINELS in the environment, or the
note of a `livescore dev` running in this folder (cli/dev_state.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import typer

from cli.dev_state import ENV_FILE
from cli.runner import fail, settings_of
from domain.settings import Settings

# Where the choice is kept between the `livescore` callback and the command: Click shares `meta` along the
# chain of contexts. Absent when a caller handed its own Settings in (tests): that caller named Redis.
_CHOICE = "livescore.redis_choice"
# Shown in place of a password, so that the line can be pasted into a ticket.
HIDDEN = "***"
NOBODY_NAMED = (
    "no Redis named: run `livescore dev` in this folder, or set REDIS_URL (or REDIS_SENTINELS) "
    "to the service's Redis"
)


@dataclass(frozen=True, slots=True)
class RedisChoice:
    """How the Redis of a command was named, as the line that says so; `said` is None when nobody did."""

    said: str | None


def choose(environ: Mapping[str, str], noted: Mapping[str, str]) -> RedisChoice:
    """The Redis that `environ` names, else the one the running `dev` noted (`noted`), else none.

    The variables are taken as `livescore` merges them: the environment wins over the note."""
    merged = {**noted, **environ}
    variable = "REDIS_SENTINELS" if merged.get("REDIS_SENTINELS") else "REDIS_URL"
    if not merged.get(variable):
        return RedisChoice(None)
    address = _sentinels(merged) if variable == "REDIS_SENTINELS" else shown_url(merged[variable])
    if environ.get(variable):
        return RedisChoice(f"using {variable} {address}")
    return RedisChoice(f"using Redis of livescore dev (./{ENV_FILE}): {address}")


def _sentinels(merged: Mapping[str, str]) -> str:
    return f"{merged['REDIS_SENTINELS']} (primary {merged.get('REDIS_SENTINEL_MASTER', '?')!r})"


def shown_url(url: str) -> str:
    """A Redis URL with its password, in the user part or the query, replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    query = [(k, HIDDEN if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))


def remember(ctx: typer.Context, choice: RedisChoice) -> None:
    ctx.meta[_CHOICE] = choice


def redis_settings(ctx: typer.Context) -> Settings:
    """The settings of a command that uses Redis, once it has said which one (one line on stderr); with no
    Redis named, one line saying what to do and exit status 1, before anything is read or written."""
    choice: RedisChoice | None = ctx.meta.get(_CHOICE)
    if choice is not None:
        if choice.said is None:
            fail(NOBODY_NAMED)
        typer.echo(f"livescore: {choice.said}", err=True)
    return settings_of(ctx)
