"""The first officer, created directly on the database (no one can call the API yet),
and Hong Kong's cargo control points as a starting set."""

from __future__ import annotations

from datetime import datetime

from central.services import errors, registration
from central.store import models

# Land boundary control points with cargo lanes (codes decided here).
HK_CONTROL_POINTS: tuple[tuple[str, str], ...] = (
    ("LMC", "Lok Ma Chau"),
    ("MKT", "Man Kam To"),
    ("STK", "Sha Tau Kok"),
    ("SBC", "Shenzhen Bay"),
    ("HYW", "Heung Yuen Wai"),
    ("HZMB", "Hong Kong-Zhuhai-Macao Bridge"),
)


def bootstrap(
    badge: str,
    name: str,
    now: datetime,
    *,
    seed_control_points: bool = True,
    slot_minutes: int = 15,
    slot_capacity: int = 60,
) -> tuple[models.Officer, str, list[str]]:
    """Create the first officer and return (officer, api token, control points created).
    Refused once any officer exists: later officers are registered through the API."""
    if models.Officer.select().exists():
        raise errors.FailedPrecondition(
            "bootstrap: an officer already exists; register others with 'rocars registration officer'"
        )
    officer, token = registration.register_officer(badge, name, now, token_label="bootstrap")
    created: list[str] = []
    if seed_control_points:
        for code, cp_name in HK_CONTROL_POINTS:
            if not models.ControlPoint.select().where(models.ControlPoint.code == code).exists():
                registration.upsert_control_point(
                    registration.ControlPointInput(code, cp_name, slot_minutes, slot_capacity),
                    slot_minutes,
                    slot_capacity,
                )
                created.append(code)
    return officer, token, created
