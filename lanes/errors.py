"""The lane logic's exception tree (raised ``from`` the cause)."""

from __future__ import annotations


class LaneError(Exception):
    """Base of every error the lane logic raises."""


class ConfigError(LaneError, ValueError):
    """A lane setting breaks a rule; the message names the setting and the rule."""


class JournalError(LaneError, ValueError):
    """A journal line cannot be decoded; the message names the line and the field."""
