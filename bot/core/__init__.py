"""The platform-neutral core of the chat edge: what a message says, before any platform's markup (message.py), the
commands' words on each channel (vocabulary.py), labels for domain values (labels.py), the notices (notices.py) and
the command core the DingTalk channel runs (commands.py). It imports no chat platform's library."""
