"""Who is calling: the result of authentication, handed to every service function."""

from __future__ import annotations

from dataclasses import dataclass

from proto.rocars.v1 import common_pb2

OFFICER = int(common_pb2.OFFICER)
COMPANY = int(common_pb2.COMPANY)
DRIVER = int(common_pb2.DRIVER)
LANE = int(common_pb2.LANE)
ELOCK_GATEWAY = int(common_pb2.ELOCK_GATEWAY)

ROLE_NAMES: dict[int, str] = {
    OFFICER: "officer",
    COMPANY: "company",
    DRIVER: "driver",
    LANE: "lane",
    ELOCK_GATEWAY: "elock_gateway",
}


@dataclass(frozen=True, slots=True)
class Principal:
    role: int  # proto rocars.v1.Role
    account_id: int  # officer / company / driver / lane id; 0 for an e-lock gateway
    name: str  # display name, or the certificate CN for machines
    control_point: str = ""  # lanes: their control point code
    direction: int = 0  # lanes: their direction
    token_id: int = 0  # the ApiToken row that authenticated the call (0: certificate)

    @property
    def key(self) -> str:
        """Stable text key of the account, e.g. ``company:12`` (idempotency, logs)."""
        if self.role == ELOCK_GATEWAY:
            return f"elock_gateway:{self.name}"
        return f"{ROLE_NAMES.get(self.role, 'unknown')}:{self.account_id}"

    def is_officer(self) -> bool:
        return self.role == OFFICER
