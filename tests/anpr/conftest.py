"""Shared fixture: one persistent Tesseract-backed reader per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from drivers.anpr.reader import PlateReader


@pytest.fixture(scope="module")
def reader() -> Iterator[PlateReader]:
    if shutil.which("tesseract") is None:
        pytest.fail("Debian package tesseract-ocr is missing: plate recognition cannot be tested")
    with PlateReader() as r:
        yield r
