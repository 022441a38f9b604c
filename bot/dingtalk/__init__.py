"""DingTalk as a chat channel: Stream-mode receiving, OpenAPI sending, DingTalk markdown."""
