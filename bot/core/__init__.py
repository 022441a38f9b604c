"""The platform-neutral core of the chat edge: what a message says, before any platform's markup."""
