"""The Telegram edge: handlers, views, keyboards, the message catalogue, and the wiring in app.py."""
