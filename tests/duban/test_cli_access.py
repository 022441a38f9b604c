"""`duban invite` and `duban contacts`: invite by county, list and cancel invitations, list and deactivate people."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from duban.cli import main
from duban.db import make_engine
from duban.services.invites import redeem_invite
from models import Contact, Department, Invite, Plan


@pytest.fixture
def seeded_cli(cli_env: str) -> str:
    assert main(["seed"]) == 0
    return cli_env


def _lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


def test_a_name_in_two_counties_asks_for_the_county_and_names_them(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert main(["invite", "--department", "区财政局"]) == 1
    out, err = _lines(capsys)
    assert out == []
    assert err == [
        "“区财政局”在多个县区都有：济南市长清区、淄博市淄川区。请用 --region 指明，例如 --region 济南市长清区。"
    ]


def test_the_county_picks_the_department(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert main(["invite", "--department", "区财政局", "--region", "淄博市淄川区"]) == 0
    out, _err = _lines(capsys)
    assert out[0].startswith("https://t.me/") and out[1].startswith("淄博市淄川区 区财政局：有效期至 ")


def test_the_plans_county_picks_the_department_too(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert (
        main(["invite", "--department", "区财政局", "--role", "coordinator", "--plan", "zibo-zichuan-2023"])
        == 0
    )
    assert _lines(capsys)[0][1].startswith("淄博市淄川区 区财政局：")


def test_a_plan_of_another_county_is_refused(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """A 淄川 coordinator invited with --plan anqiu-2023 could approve 安丘's 销号."""
    capsys.readouterr()
    with Session(make_engine(seeded_cli)) as session:
        before = len(session.exec(select(Invite)).all())
    assert main(["invite", "--department", "区教体局", "--role", "coordinator", "--plan", "anqiu-2023"]) == 1
    assert _lines(capsys)[1] == ["方案“anqiu-2023”属于安丘市，安丘市没有“区教体局”（淄博市淄川区有）。"]
    assert (
        main(["invite", "--department", "区财政局", "--region", "淄博市淄川区", "--plan", "anqiu-2023"]) == 1
    )
    assert _lines(capsys)[1] == ["方案“anqiu-2023”属于安丘市，不是淄博市淄川区。"]
    with Session(make_engine(seeded_cli)) as session:
        assert len(session.exec(select(Invite)).all()) == before


def test_plan_limits_a_contact_to_the_plan_where_their_department_has_a_task(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with Session(make_engine(seeded_cli)) as session:
        session.add(Department(name="区档案馆", region="淄博市淄川区"))  # no task in any plan
        session.commit()
    capsys.readouterr()
    plan = ["--role", "contact", "--plan", "zibo-zichuan-2023"]
    assert main(["invite", "--department", "区科技局", *plan]) == 0
    token = _lines(capsys)[0][0].rsplit("=", 1)[1]
    assert main(["invite", "--department", "区档案馆", *plan]) == 1
    assert _lines(capsys)[1] == [
        "区档案馆在方案“zibo-zichuan-2023”中没有任务（牵头或配合），限定于该方案的联络员将看不到任何任务。"
    ]
    with Session(make_engine(seeded_cli)) as session:
        contact = redeem_invite(
            session=session, token=token, telegram_user_id=7, language="zh_CN", now=dt.datetime.now(dt.UTC)
        )
        zibo = session.exec(select(Plan).where(Plan.key == "zibo-zichuan-2023")).one()
        assert (contact.role, contact.plan_id) == ("contact", zibo.id)


def test_a_region_without_that_department_says_where_it_is(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert main(["invite", "--department", "区教体局", "--region", "安丘市"]) == 1
    assert _lines(capsys)[1] == ["安丘市没有“区教体局”（淄博市淄川区有）。"]


def test_unused_invitations_are_listed_and_cancelled(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    main(["invite", "--department", "区教体局", "--name", "张三"])
    token = capsys.readouterr().out.splitlines()[0].rsplit("=", 1)[1]
    assert main(["invite", "--list"]) == 0
    [line] = _lines(capsys)[0]
    number, region, department, role, name, state = line.split("\t")
    assert (region, department, role, name) == ("淄博市淄川区", "区教体局", "联络员", "张三")
    assert state.startswith("邀请 1 未使用，有效至 ")

    assert main(["invite", "--cancel", "1"]) == 0
    assert _lines(capsys)[0] == [f"邀请 1 已作废（联络人 {number}）。"]
    assert main(["invite", "--list"]) == 0
    assert _lines(capsys)[0] == ["（无）"]
    assert main(["invite", "--cancel", "1"]) == 1
    assert _lines(capsys)[1] == ["没有未使用的邀请 1。请用 duban invite --list 查看。"]
    with Session(make_engine(seeded_cli)) as session, pytest.raises(Exception, match=token):
        redeem_invite(
            session=session, token=token, telegram_user_id=5, language="zh_CN", now=dt.datetime.now(dt.UTC)
        )


def test_contacts_are_listed_and_deactivated(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    main(["invite", "--department", "区教体局"])
    token = capsys.readouterr().out.splitlines()[0].rsplit("=", 1)[1]
    with Session(make_engine(seeded_cli)) as session:
        contact = redeem_invite(
            session=session, token=token, telegram_user_id=5, language="zh_CN", now=dt.datetime.now(dt.UTC)
        )
        number = contact.id
    assert main(["contacts", "list", "--region", "淄博市淄川区"]) == 0
    assert _lines(capsys)[0] == [
        f"{number}\t淄博市淄川区\t区教体局\t联络员\t未填姓名\t已通过Telegram加入（账号 …5）"
    ]
    assert main(["contacts", "deactivate", str(number)]) == 0
    assert _lines(capsys)[0] == [
        f"已撤销联络人 {number} 的权限，自其下一条消息起生效；未使用的邀请一并作废。"
    ]
    assert main(["contacts", "list"]) == 0
    assert _lines(capsys)[0] == ["（无）"]
    assert main(["contacts", "deactivate", str(number)]) == 1
    assert _lines(capsys)[1] == [f"联络人 {number} 已无使用权限。"]
    assert main(["contacts", "deactivate", "999"]) == 1
    assert _lines(capsys)[1] == ["没有编号为 999 的联络人。请用 duban contacts list 查看。"]
    with Session(make_engine(seeded_cli)) as session:
        assert session.exec(select(Contact).where(Contact.id == number)).one().active is False


def test_only_the_hash_of_an_invite_token_is_stored(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """A copy of the database must not let anyone join: the token itself is nowhere in it."""
    import hashlib

    main(["invite", "--department", "区教体局"])
    token = capsys.readouterr().out.splitlines()[0].rsplit("=", 1)[1]
    assert len(token) >= 32
    with Session(make_engine(seeded_cli)) as session:
        [invite] = session.exec(select(Invite)).all()
        assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = [
            str(value) for row in session.exec(select(Invite, Contact).join(Contact)).all() for value in row
        ]
        assert not any(token in text for text in stored)


def test_region_narrows_the_lists_and_a_cancelled_invitee_leaves_them(seeded_cli: str, capsys) -> None:  # type: ignore[no-untyped-def]
    main(["invite", "--department", "区财政局", "--region", "淄博市淄川区"])
    main(["invite", "--department", "区财政局", "--region", "济南市长清区"])
    capsys.readouterr()
    assert main(["invite", "--list", "--region", "济南市长清区"]) == 0
    [line] = _lines(capsys)[0]
    assert line.split("\t")[1:4] == ["济南市长清区", "区财政局", "联络员"]
    assert main(["contacts", "list", "--region", "淄博市淄川区"]) == 0
    [line] = _lines(capsys)[0]
    assert line.split("\t")[1:3] == ["淄博市淄川区", "区财政局"]

    assert main(["invite", "--cancel", "1"]) == 0
    capsys.readouterr()
    assert main(["contacts", "list"]) == 0
    [line] = _lines(capsys)[0]  # the never-joined invitee of invite 1 is gone, the other stays
    assert line.split("\t")[1] == "济南市长清区"


def test_the_contacts_list_names_each_person_with_their_role_and_the_channel_they_joined_on(
    seeded_cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two people of one department tell apart; a DingTalk member is joined; a leader is 分管领导, not 牵头."""
    now = dt.datetime.now(dt.UTC)
    main(["invite", "--department", "区教体局", "--role", "lead", "--name", "王局长"])
    lead_token = capsys.readouterr().out.splitlines()[0].rsplit("=", 1)[1]
    main(["invite", "--department", "区教体局"])
    contact_token = capsys.readouterr().out.splitlines()[0].rsplit("=", 1)[1]
    main(["invite", "--department", "区教体局", "--name", "赵六"])  # not joined yet
    capsys.readouterr()
    with Session(make_engine(seeded_cli)) as session:
        lead = redeem_invite(
            session=session, token=lead_token, dingtalk_user_id="manager4221", language="zh_CN", now=now
        )
        contact = redeem_invite(
            session=session, token=contact_token, telegram_user_id=770012345, language="zh_CN", now=now
        )
        lead_id, contact_id = lead.id, contact.id

    assert main(["contacts", "list", "--region", "淄博市淄川区"]) == 0
    lines = _lines(capsys)[0]

    assert f"{lead_id}\t淄博市淄川区\t区教体局\t分管领导\t王局长\t已通过钉钉加入（账号 …4221）" in lines
    assert (
        f"{contact_id}\t淄博市淄川区\t区教体局\t联络员\t未填姓名\t已通过Telegram加入（账号 …2345）" in lines
    )
    [waiting] = [line for line in lines if "\t赵六\t" in line]
    assert waiting.split("\t")[3:5] == ["联络员", "赵六"] and waiting.split("\t")[5].startswith(
        "邀请 3 未使用，有效至 "
    )


@pytest.mark.parametrize(
    ("telegram", "dingtalk", "shape"),
    [
        (True, False, ["link", "valid"]),
        (False, True, ["code", "valid", "send the code"]),
        (True, True, ["link", "valid", "send the code", "code"]),
        (
            False,
            False,
            ["link", "valid", "send the code", "code"],
        ),  # the bot may run with another environment
    ],
)
def test_an_invitation_is_printed_for_the_channels_the_deployment_runs(
    seeded_cli: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    telegram: bool,
    dingtalk: bool,
    shape: list[str],
) -> None:
    from duban.config import get_settings

    if telegram:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCdefGhIJKlmnOPQrstUVwxyz0123456789")
    if dingtalk:
        monkeypatch.setenv("DUBAN_DINGTALK_CLIENT_ID", "dingabcdef123456")
        monkeypatch.setenv("DUBAN_DINGTALK_CLIENT_SECRET", "s3cr3t-of-the-app-0123456789")
    get_settings.cache_clear()
    capsys.readouterr()

    assert main(["invite", "--department", "区科技局"]) == 0
    out = _lines(capsys)[0]

    code = out[0].rsplit("=", 1)[-1]  # the link's code, or the code itself on DingTalk alone
    expected = {
        "link": f"https://t.me/duban_bot?start={code}",
        "code": code,
        "send the code": "请对方在钉钉中把这个邀请码发给督办机器人（只发邀请码，或发“加入 邀请码”）。",
    }
    assert len(out) == len(shape)
    for line, kind in zip(out, shape, strict=True):
        if kind == "valid":
            assert line.startswith("淄博市淄川区 区科技局：有效期至 ") and line.endswith("，仅可使用一次。")
        elif kind == "send the code" and telegram == dingtalk:
            assert line == "钉钉：" + expected[kind]
        else:
            assert line == expected[kind]
    if dingtalk and not telegram:  # a DingTalk county gets no Telegram link
        assert not any("t.me" in line for line in out)


def test_the_invitation_list_names_the_roles_in_chinese(
    seeded_cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for role in ("contact", "coordinator", "lead"):
        assert main(["invite", "--department", "区教体局", "--region", "淄博市淄川区", "--role", role]) == 0
    capsys.readouterr()
    assert main(["invite", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[3] for line in lines] == ["联络员", "督办人员", "分管领导"]
