"""`python -m cli`: the `livescore` command, for processes started by `livescore dev`."""

from cli.main import app

app()
