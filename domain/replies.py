"""The worker's answer to an activation command, published on the ingress's reply channel (`replyTo`).

One type for both sides: the worker encodes it after committing, the ingress decodes it, so the JSON keys
(`commandId`, `outcome`, `status`) agree by construction.
"""

import msgspec

from domain.commands import Outcome
from domain.package_status import PackageStatus


class Reply(msgspec.Struct, frozen=True):
    # Camel case as the wire spells it, like the commands' own fields.
    commandId: str
    outcome: Outcome
    status: PackageStatus
