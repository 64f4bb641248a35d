"""The console's recovery button (SPEC §12's trigger), kept at one seam while recovery's own gateway method
is built beside the console: when `Gateway.trigger_recovery` lands, `trigger_recovery` below calls it with
the session's caller (as the console's other actions call theirs) and answers the API's body; nothing else
in the console changes."""

from typing import Any

from domain.errors import NotAvailable
from ingress.gateway import Gateway, SignedIn


async def trigger_recovery(gateway: Gateway, caller: SignedIn, after: object) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body the API answers a recovery trigger with (`after` as the request gave it)."""
    raise NotAvailable("Recovery is not available in this version of the service")
