"""Who caused a change: every event records an Actor."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

OrderId = NewType("OrderId", str)
VendorId = NewType("VendorId", int)


class Role(StrEnum):
    SUPPORT = "support"  # platform staff (Schulden tab)
    VENDOR = "vendor"  # a seller, bound to one User-ID (Inkasso-Beta tab)
    SYSTEM = "system"  # integrations: order intake, schedulers, the outbox
    DIAGONAL = "diagonal"  # a message from the collection agency


@dataclass(frozen=True)
class Actor:
    role: Role
    id: str
    # Only for vendors: the User-ID whose cases they may see and act on.
    vendor_id: VendorId | None = None

    @classmethod
    def support(cls, name: str) -> Actor:
        return cls(Role.SUPPORT, name)

    @classmethod
    def vendor(cls, user_id: int) -> Actor:
        return cls(Role.VENDOR, str(user_id), VendorId(user_id))

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(Role.SYSTEM, name)

    @classmethod
    def diagonal(cls, message_id: str) -> Actor:
        return cls(Role.DIAGONAL, message_id)

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role.value, "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Actor:
        role = Role(data["role"])
        vendor_id = VendorId(int(data["id"])) if role is Role.VENDOR else None
        return cls(role, data["id"], vendor_id)
