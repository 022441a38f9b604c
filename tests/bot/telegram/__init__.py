"""Tests of the Telegram adapter (bot/telegram/), through the real Application and a recording Bot API."""
