"""The core's tests use the shared fixtures of tests/conftest.py (every servicer but
the lane feed, which has its own tests in tests/sync/)."""

from __future__ import annotations

from tests.support.central import TEST_MODULES

CORE_MODULES = TEST_MODULES
