"""A package's status, active or inactive: what storage holds, a command asks for and a reply tells."""

from enum import StrEnum


class PackageStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
