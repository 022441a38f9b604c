"""The reliability benches' short modes on the DingTalk sender: correctness only, as for Telegram
(tests/bench/test_reliability_short.py); bench/README.md records the figures."""

from __future__ import annotations

import functools

import pytest

from bench import crash_test, faults
from bot.dingtalk.pacing import DingTalkPacer


def test_a_sigkilled_dingtalk_dispatcher_loses_nothing_and_duplicates_at_most_one_send_per_kill(
    database_url: str,
) -> None:
    report = crash_test.run(300, 5, database_url=database_url, channel="dingtalk")
    assert (report.channel, report.kills) == ("dingtalk", 5)
    assert report.lost == 0
    assert report.delivered_more == 0
    # a duplicate is the batchSend a person receives twice; it repeats every row of its bundle (here at most 2)
    assert (report.chats, report.rows_per_chat) == (200, 2)
    assert report.duplicate_messages <= report.kills
    assert report.delivered_twice <= report.duplicate_messages * report.rows_per_chat
    assert report.delivered_once + report.delivered_twice == 300
    # every sent row names the processQueryKey of a batchSend that reached its person
    assert report.unrecorded == report.misrecorded == 0


@pytest.mark.parametrize("mode", faults.MODES)
def test_a_fault_mode_on_dingtalk_keeps_the_outbox_promises(mode: str, database_url: str) -> None:
    # two reminders per person, due together: each is owed one batchSend carrying both rows
    report = faults.run_mode(mode, rows=200, chats=100, database_url=database_url, channel="dingtalk")
    assert report.problems == []
    assert report.lost == 0 and report.misrecorded == 0
    # never before DingTalk's Retry-After or flow control ran out, never over the pacer's limits, backoff kept
    assert report.early_after_429 == report.over_limit == report.early_after_backoff == 0
    if mode == "hang-delivered":
        assert 0 < report.duplicate_messages <= report.hangs
        assert 0 < report.duplicates <= 2 * report.duplicate_messages
    else:
        assert report.duplicates == report.duplicate_messages == 0
    if mode == "403":  # people who left the organisation: invalidStaffIdList
        assert report.marked_inactive == report.blocked_chats == 10
        assert report.wrongly_inactive == 0
        assert report.coordinator_notices == report.blocked_named == 10
        assert report.http_403 == 10  # one batchSend per person who left: their two rows were one message
        assert report.given_up == 20
        assert 1 <= report.coordinator_messages <= 10
        assert report.accepted == 100 - 10 + report.coordinator_messages
    else:
        assert report.accepted - report.duplicate_messages == 100
        assert report.given_up == 0


def test_without_the_app_limit_the_stand_in_counts_sends_over_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the 100 people's messages due at once, sent without the pacer's 20 a second, are caught."""
    monkeypatch.setattr(faults, "DingTalkPacer", functools.partial(DingTalkPacer, app_per_second=10_000))
    report = faults.run_mode("5xx", rows=200, chats=100, database_url=database_url, channel="dingtalk")
    assert report.over_limit > 0
    assert f"{report.over_limit} sends over the platform's limits" in report.problems
