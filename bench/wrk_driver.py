"""Running wrk with a generated Lua script, and reading its figures back as JSON."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench.load import LoadResult, Target

# One wrk thread: on a 2-core machine a second one would take a core from the server being measured.
WRK_THREADS = 1
# Longer than the ingress's 5 s command timeout, so a slow activation is measured rather than dropped.
WRK_TIMEOUT_S = 10
RESULT_MARK = "BENCH-JSON "

# `done` prints exact percentiles (wrk keeps every latency in an HdrHistogram) in microseconds.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
""".replace("%s", RESULT_MARK)

# One path: wrk's static request, built once (fastest). Several: a `request` that cycles through them.
_STATIC = """
wrk.method = "POST"
wrk.path = {path}
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
_CYCLE = """
local built = {{}}
for i, path in ipairs({paths}) do
  built[i] = wrk.format("POST", path, {{["Content-Type"] = "application/json"}}, {body})
end
local n = 0
request = function()
  n = n % #built + 1
  return built[n]
end
"""


def lua_script(target: Target) -> str:
    paths = "{" + ", ".join(_lua_string(p) for p in target.paths) + "}"
    body = _lua_string(target.body.decode())
    template = _STATIC if len(target.paths) == 1 else _CYCLE
    return template.format(path=_lua_string(target.paths[0]), paths=paths, body=body) + _DONE


def run_wrk(target: Target, concurrency: int, duration_s: float) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(lua_script(target))
        output, cpu_s = _run(_command(target, concurrency, duration_s, script))
    figures = _figures(output)
    wall_s = figures["duration_us"] / 1e6
    return LoadResult(
        generator="wrk",
        concurrency=concurrency,
        duration_s=wall_s,
        requests=figures["requests"],
        errors=figures["errors"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        cpu=cpu_s / wall_s if wall_s > 0 else 0.0,
    )


def _command(target: Target, concurrency: int, duration_s: float, script: Path) -> list[str]:
    return [
        "wrk",
        f"--threads={min(WRK_THREADS, concurrency)}",
        f"--connections={concurrency}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={WRK_TIMEOUT_S}s",
        f"--script={script}",
        f"http://127.0.0.1:{target.port}{target.paths[0]}",
    ]


def _run(command: list[str]) -> tuple[str, float]:
    """wrk's output and the CPU seconds it used, read from the kernel when it is reaped."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        output = proc.stdout.read().decode(errors="replace")
    except BaseException:
        proc.kill()  # interrupted: no load may outlive the run
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with status {proc.returncode}:\n{output}")
    return output, usage.ru_utime + usage.ru_stime


def _figures(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            figures: dict[str, int] = json.loads(line[len(RESULT_MARK) :])
            return figures
    raise RuntimeError(f"wrk printed no figures:\n{output}")


def _lua_string(text: str) -> str:
    # JSON string escapes (\\, \", \n, \uXXXX for controls) are valid Lua escapes too, except \u,
    # which json.dumps emits only for non-ASCII or control characters; keep those out of bodies.
    if not text.isascii() or any(ord(c) < 32 for c in text):
        raise ValueError("wrk bodies must be printable ASCII")
    return json.dumps(text)
