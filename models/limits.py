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
# a group robot's webhook and signing secret, in UTF-8 bytes; sealed (Fernet: 57 bytes of header and MAC around the
# value padded to 16-byte blocks, in base64) they take 4 * ceil((57 + 16 * (n // 16 + 1)) / 3) characters
ROBOT_WEBHOOK = 500
ROBOT_SECRET = 200
SEALED_WEBHOOK = 1000  # a 500-byte webhook seals to 760 characters
SEALED_SECRET = 500  # a 200-byte secret seals to 356
