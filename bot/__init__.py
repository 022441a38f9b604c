"""The chat edge, one package per platform around a platform-neutral core: `core/` (what a message says, the
commands' words, labels, notices), `telegram/` (the Telegram adapter), `dingtalk/` (the DingTalk adapter),
`robots/` (group robots); at the root, what every platform shares: the message catalogue (i18n.py), the router
that sends each outbox row on its recipient's channel (channels.py), and the process that runs them (main.py)."""
