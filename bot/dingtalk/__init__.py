"""The DingTalk adapter: Stream-mode receiving, OpenAPI sending, DingTalk markdown. Within bot/, only this package
imports `dingtalk_stream` (tests/test_layers.py)."""
