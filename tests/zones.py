"""The county's zone as the settings default it (DUBAN_TIMEZONE unset), for tests that call the services directly:
the services take the zone from their caller, as the bot and the scheduler pass Settings.tz."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from duban.config import DEFAULT_TIMEZONE

DEFAULT_TZ = ZoneInfo(DEFAULT_TIMEZONE)
