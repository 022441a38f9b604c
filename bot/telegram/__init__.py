"""The Telegram channel: a Message as HTML and inline buttons, sent within Telegram's limits."""
