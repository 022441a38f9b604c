"""The Telegram adapter (python-telegram-bot): the Application and its handlers (app.py, handlers.py,
report_flow.py, reminder_buttons.py), the views in Telegram HTML and their pages (views.py, paged_views.py,
pages.py), where updates enter (edge.py, runtime.py, polling.py, webhook.py), the process's Telegram part
(process.py), the outbox channel (channel.py, render.py, notify.py) and the test emulator's requests (emulator.py).
Within bot/, only this package imports `telegram` (tests/test_layers.py)."""
