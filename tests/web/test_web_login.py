"""Signing in without a password: who gets a link, how long it lasts, and that it works once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from duban.services.errors import NotAllowed
from duban.services.web_login import (
    LoginLinkInvalid,
    check_login_link,
    contact_for_session,
    csrf_matches,
    csrf_token,
    end_session,
    issue_login_link,
    redeem_login_link,
)
from models import AuditEntry, WebLogin, WebSession
from tests.web.conftest import NOW, County

HOURS_8 = dt.timedelta(hours=8)


def test_coordinators_and_leads_get_a_link_that_is_stored_only_as_a_digest(
    seeded: Session, county: County
) -> None:
    for reader in (county.coordinator, county.lead):
        issued = issue_login_link(session=seeded, contact=reader, now=NOW)
        assert issued.expires_at == NOW + dt.timedelta(minutes=10)
        assert (
            issued.link("https://duban.example.gov.cn/")
            == f"https://duban.example.gov.cn/login/{issued.token}"
        )
    stored = seeded.exec(select(WebLogin)).all()
    assert len(stored) == 2 and all(issued.token not in row.token_hash for row in stored)


def test_a_department_contact_gets_no_link(seeded: Session, county: County) -> None:
    with pytest.raises(NotAllowed):
        issue_login_link(session=seeded, contact=county.contact, now=NOW)
    assert seeded.exec(select(WebLogin)).all() == []


def test_a_link_opens_one_session_once(seeded: Session, county: County) -> None:
    issued = issue_login_link(session=seeded, contact=county.coordinator, now=NOW)
    opened = redeem_login_link(session=seeded, token=issued.token, now=NOW, ttl=HOURS_8)
    assert contact_for_session(session=seeded, token=opened.token, now=NOW) == county.coordinator
    with pytest.raises(LoginLinkInvalid) as refused:
        redeem_login_link(session=seeded, token=issued.token, now=NOW, ttl=HOURS_8)
    assert refused.value.reason == "used"
    assert len(seeded.exec(select(WebSession)).all()) == 1
    assert [a.action for a in seeded.exec(select(AuditEntry)).all()][-2:] == ["web_link", "web_login"]


def test_a_link_expires_after_ten_minutes(seeded: Session, county: County) -> None:
    issued = issue_login_link(session=seeded, contact=county.lead, now=NOW)
    check_login_link(session=seeded, token=issued.token, now=NOW + dt.timedelta(minutes=9, seconds=59))
    with pytest.raises(LoginLinkInvalid) as refused:
        redeem_login_link(session=seeded, token=issued.token, now=NOW + dt.timedelta(minutes=10), ttl=HOURS_8)
    assert refused.value.reason == "expired"
    assert seeded.exec(select(WebSession)).all() == []


def test_an_unknown_link_is_refused(seeded: Session, county: County) -> None:
    with pytest.raises(LoginLinkInvalid) as refused:
        redeem_login_link(session=seeded, token="not-a-token", now=NOW, ttl=HOURS_8)
    assert refused.value.reason == "unknown"


def test_a_session_ends_when_it_expires_on_logout_and_when_the_contact_is_deactivated(
    seeded: Session, county: County
) -> None:
    def open_one() -> str:
        issued = issue_login_link(session=seeded, contact=county.coordinator, now=NOW)
        return redeem_login_link(session=seeded, token=issued.token, now=NOW, ttl=HOURS_8).token

    token = open_one()
    assert contact_for_session(session=seeded, token=token, now=NOW + HOURS_8 - dt.timedelta(seconds=1))
    assert contact_for_session(session=seeded, token=token, now=NOW + HOURS_8) is None

    token = open_one()
    end_session(session=seeded, token=token, now=NOW)
    assert contact_for_session(session=seeded, token=token, now=NOW) is None

    token = open_one()
    county.coordinator.active = False
    seeded.add(county.coordinator)
    seeded.commit()
    assert contact_for_session(session=seeded, token=token, now=NOW) is None
    assert contact_for_session(session=seeded, token="", now=NOW) is None


def test_the_csrf_token_belongs_to_its_session() -> None:
    assert csrf_matches("session-a", csrf_token("session-a"))
    assert not csrf_matches("session-b", csrf_token("session-a"))
    assert not csrf_matches("", csrf_token(""))
    assert not csrf_matches("session-a", "")
