"""The benchmarks' short modes as tests: correctness only (counts, duplicates, losses, inactive marks).

Times and rates depend on the machine, so nothing here asserts them; `bench/README.md` records the figures.
The stand-in judges limits in real time for throughput and crash runs (429s are printed there, not asserted) and
in virtual time for the fault runs, where "never over a limit, never before retry_after" is exact and asserted.
"""

from __future__ import annotations

import pytest

from bench import crash_test, dispatch_throughput, faults


@pytest.mark.parametrize("grouped", [False, True], ids=["interleaved", "grouped"])
def test_throughput_run_delivers_every_row_once(grouped: bool, database_url: str) -> None:
    rows, chats = (300, 50) if not grouped else (8, 4)
    report = dispatch_throughput.run(rows, chats, grouped=grouped, database_url=database_url)
    assert (report.rows, report.duplicates, report.lost, report.unrecorded) == (rows, 0, 0, 0)
    # rows are counted in what each chat received; a user receives a contact's due reminders as one message
    # (6 or 2 items here, far from the split length), so there is one message per chat, none repeated
    assert (report.messages, report.duplicate_messages, report.misrecorded) == (chats, 0, 0)


def test_sigkilled_dispatcher_loses_nothing_and_duplicates_at_most_one_send_per_kill(
    database_url: str,
) -> None:
    report = crash_test.run(300, 5, database_url=database_url)
    assert report.kills == 5
    assert report.lost == 0
    assert report.delivered_more == 0
    # a duplicate is the message a user receives twice; it repeats every row of its bundle (here at most 2)
    assert (report.chats, report.rows_per_chat) == (200, 2)
    assert report.duplicate_messages <= report.kills
    assert report.delivered_twice <= report.duplicate_messages * report.rows_per_chat
    assert report.delivered_once + report.delivered_twice == 300
    assert report.unrecorded == report.misrecorded == 0


@pytest.mark.parametrize("mode", faults.MODES)
def test_fault_mode_keeps_the_outbox_promises(mode: str, database_url: str) -> None:
    # two reminders per contact, due together: each contact is owed one message carrying both rows
    report = faults.run_mode(mode, rows=200, chats=100, database_url=database_url)
    assert report.problems == []
    assert report.lost == 0 and report.misrecorded == 0
    assert report.early_after_429 == report.over_limit == report.early_after_backoff == 0
    if mode == "hang-delivered":
        # a duplicate is a message the user receives again; it repeats both rows of its bundle
        assert 0 < report.duplicate_messages <= report.hangs
        assert 0 < report.duplicates <= 2 * report.duplicate_messages
    else:
        assert report.duplicates == report.duplicate_messages == 0
    if mode == "403":
        assert report.marked_inactive == report.blocked_chats == 10
        assert report.wrongly_inactive == 0
        assert report.coordinator_notices == report.blocked_named == 10
        assert report.http_403 == 10  # one request per blocked contact: its two rows were one message
        assert report.given_up == 20
        # one message per unblocked contact, plus the coordinator's (notices due together share one message)
        assert 1 <= report.coordinator_messages <= 10
        assert report.accepted == 100 - 10 + report.coordinator_messages
    else:
        assert report.accepted - report.duplicate_messages == 100  # each contact's bundle, once
        assert report.given_up == 0
