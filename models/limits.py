"""How long each piece of user text may be: one table, read by the schema (max_length) and by validation.

It lives in models/ because the tables are the lowest layer; the services check input against the same numbers,
so a text that passes validation always fits its column (a 2,000-character /reject reason once passed the check
and then failed on PostgreSQL's VARCHAR(500)).
"""

INCOMING_TEXT = 4096  # Telegram's own limit for a message; anything longer at the edge is forged, and is cut
NOTE = 2000  # a progress report's note (a Text column, bounded here so a report stays readable in chat)
CLOSEOUT_REASON = 2000  # a /reject reason: the contact reads it in full, so it is as long as a note
PAUSE_REASON = 500  # the reason an overdue escalation is paused (/snooze)
SEARCH_KEYWORD = 100  # /find
CONTACT_NAME = 80  # a person's name, for the ledger
WITHDRAWN_BY = 200  # who withdrew a milestone: the command, its source file and the operator
