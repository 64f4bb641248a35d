"""`python -m cli`: the `livescore` command, for processes started by `livescore dev`."""

import sys

from cli.main import main

sys.exit(main())
