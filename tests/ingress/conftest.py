"""Fixtures of the ingress's tests beside the suite's own (tests/conftest.py)."""

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar

from tests.support import console_browser


@pytest.fixture
async def browser(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The customer console's page as a browser runs it: same origin, cookies kept."""
    async with console_browser(cast(Any, app)) as client:
        yield client
