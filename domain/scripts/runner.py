"""Running a Lua script: what a script is, what a call of it is, and who runs it."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

Arg = str | int | bytes
T = TypeVar("T")

_HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class LuaScript:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324

    @classmethod
    def load(cls, *names: str) -> "LuaScript":
        """The script of these `.lua` files of this package, joined in order (fragments first)."""
        return cls("".join((_HERE / f"{name}.lua").read_text() for name in names))


class ScriptRunner(Protocol):
    async def run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """The script's reply; on a pipeline, the call is queued and its reply comes from `execute()`."""
        ...


class ReplicatedScripts(ScriptRunner, Protocol):
    """A runner that can also ask Redis how many replicas hold what a script wrote (SPEC §11)."""

    async def run_replicated(
        self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """The script's reply, and the number of replicas that confirmed its writes (Redis WAIT, sent with
        it) within `timeout_ms`; that number may be below `replicas`."""
        ...


# Not frozen: a call is built per request on the ingress's hot path, and a frozen dataclass costs
# several times as much to build.
@dataclass(slots=True)
class ScriptCall(Generic[T]):
    """One call of a script: its keys and arguments in the script's order, and how its reply reads."""

    script: LuaScript
    keys: list[Arg]
    args: list[Arg]
    read: Callable[[Any], T]

    async def run(self, scripts: ScriptRunner) -> T:
        """Run it now: its reply, read."""
        return self.read(await scripts.run(self.script, self.keys, self.args))

    async def submit(self, scripts: ScriptRunner) -> None:
        """Hand it to `scripts` without reading the reply: run at once, or queued on a pipeline, whose
        `execute()` returns the reply in its place (`read` reads it)."""
        await scripts.run(self.script, self.keys, self.args)


def no_reply(_: object) -> None:
    """How the reply of a script that answers nothing of use reads."""


def text(value: bytes | str | None) -> str | None:
    """A string of a reply (redis-py and hiredis give bytes)."""
    return value.decode() if isinstance(value, bytes) else value


class RedisPyScripts:
    """Scripts through a redis-py client: EVALSHA, loading the script when Redis lacks it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._registered: dict[str, AsyncScript] = {}

    def on(self, pipe: Pipeline) -> "PipelineScripts":
        """The same scripts queued on a pipeline, to be sent with its other commands in one round trip."""
        return PipelineScripts(pipe)

    async def run_replicated(
        self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """In one round trip: a pipeline holds one connection, so the WAIT counts this script's writes."""
        pipe = self._redis.pipeline(transaction=False)
        await self.on(pipe).run(script, keys, args)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        reply, confirmed = await pipe.execute()
        return reply, int(confirmed)

    async def run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        registered = self._registered.get(script.sha)
        if registered is None:
            registered = self._registered[script.sha] = self._redis.register_script(script.source)
        keys_: list[Any] = list(keys)
        args_: list[Any] = list(args)
        return await registered(keys=keys_, args=args_, client=self._redis)


class PipelineScripts:
    """Scripts queued on a redis-py pipeline as EVAL with their source.

    A registered script on a pipeline makes redis-py ask SCRIPT EXISTS before every execute(): one more
    round trip, a third of an activation batch's Redis time (docs/BENCHMARKS.md). EVAL needs no such
    question and cannot meet NOSCRIPT after a restart; Redis hashes the few hundred bytes and runs the
    compiled script it keeps under that hash.
    """

    def __init__(self, pipe: Pipeline) -> None:
        self._pipe = pipe

    async def run(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self._pipe.eval(script.source, len(keys), *keys, *args)
