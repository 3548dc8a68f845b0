"""central.store.fast builds rows without peewee's attribute protocol, relying on peewee's
internals (``__data__``, ``_dirty``, ``__rel__``): these tests pin that the result is the
same object state ``Model(**values)`` gives, so a peewee upgrade that changes them fails
here rather than in a submission."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from central.store import fast, models
from central.store.db import close_all
from central.store.schema import init_database


def _state(row: object) -> tuple[dict[str, object], set[str], dict[str, object]]:
    return dict(row.__data__), set(row._dirty), dict(row.__rel__)  # type: ignore[attr-defined]


def test_instance_has_the_state_model_init_gives(tmp_path: Path) -> None:
    init_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        values = {
            "id": 7,
            "ccrn": "123456789012",
            "company": 3,
            "control_point": 2,
            "direction": 1,
            "status": 1,
            "version": 1,
            "packages_count": 12,
            "package_description": "cartons",
            "expected_at": datetime(2026, 12, 1, 8, 30),
        }
        fast_row = fast.instance(models.Consignment, values)
        orm_row = models.Consignment(**values)
        assert type(fast_row) is models.Consignment
        assert _state(fast_row) == _state(orm_row)
        assert fast_row.company_id == 3 and fast_row.ccrn == "123456789012"
        # A related row passed as an object takes the ORM path (it fills the relation cache).
        company = models.Company(id=3, name="X")
        related = fast.instance(models.Consignment, {**values, "company": company})
        assert _state(related) == _state(models.Consignment(**{**values, "company": company}))
        assert related.company is company
    finally:
        close_all()


LMC = {"code": "LMC", "name": "Lok Ma Chau", "slot_minutes": 15, "slot_capacity": 40}
SKK = {"code": "SKK", "name": "Sha Tau Kok", "slot_minutes": 15, "slot_capacity": 40}


def test_sqlite_insert_ids_without_returning(tmp_path: Path) -> None:
    """lastrowid for a new row; None when the conflict clause skipped it."""
    init_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        first = fast.insert_or_ignore_returning_id(
            models.ControlPoint,
            LMC,
        )
        again = fast.insert_or_ignore_returning_id(
            models.ControlPoint,
            LMC,
        )
        other = fast.insert_returning_id(
            models.ControlPoint,
            SKK,
        )
        assert first is not None and again is None and other != first
        assert models.ControlPoint.get_by_id(other).code == "SKK"
    finally:
        close_all()
