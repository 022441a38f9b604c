"""A core Message as DingTalk markdown: user text literal, actions as send-back links, cut to DingTalk's size."""

from __future__ import annotations

import re
from urllib.parse import unquote

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.message import Action, Message, Section
from bot.dingtalk.render import MAX_TEXT_CHARS, SEND_MESSAGE_LINK, escape, render


def test_markdown_and_html_in_user_text_are_shown_literally() -> None:
    assert escape("**全部完成** <font color=red>急</font> [链接](http://x)") == (
        r"\*\*全部完成\*\* &lt;font color=red\>急&lt;/font\> \[链接\]\(http://x\)"
    )
    assert escape("# 标题") == r"\# 标题"
    assert escape("1. 第一") == r"1\. 第一"


def test_one_short_message_is_one_markdown_message_with_its_title() -> None:
    message = Message(
        title="⏰ 提醒：距截止还有 7 天",
        sections=(Section(lines=("（二）营养午餐", "目标：覆盖率 100%")),),
        footer="回复进度即可",
    )
    [part] = render(message)
    assert part.msg_key == "sampleMarkdown"
    assert part.msg_param["title"] == "⏰ 提醒：距截止还有 7 天"
    assert part.msg_param["text"] == (
        "#### ⏰ 提醒：距截止还有 7 天\n\n（二）营养午餐  \n目标：覆盖率 100%\n\n回复进度即可"
    )


def test_actions_are_links_that_send_their_command_back_to_the_robot() -> None:
    message = Message(title="提醒", actions=(Action("收到", "/ack 42"), Action("3天后提醒", "/snooze 42 3")))
    text = render(message)[0].msg_param["text"]
    links = text.split("\n\n")[-1].split("  \n")
    assert links[0] == f"[收到]({SEND_MESSAGE_LINK}%2Fack%2042)"
    assert unquote(links[1].split(SEND_MESSAGE_LINK)[1].rstrip(")")) == "/snooze 42 3"


def test_a_long_message_is_cut_between_sections_and_keeps_every_line_in_order() -> None:
    sections = tuple(
        Section(lines=tuple(f"部门{s}第{i:02d}项" for i in range(40)), heading=f"第{s}组") for s in range(8)
    )
    parts = render(Message(title="逾期清单", sections=sections))

    assert len(parts) > 1
    assert all(len(p.msg_param["text"]) <= MAX_TEXT_CHARS for p in parts)
    texts = [p.msg_param["text"] for p in parts]
    # no section is split: each heading's 40 lines are in the part that has the heading
    for s in range(8):
        [holder] = [t for t in texts if f"**第{s}组**" in t]
        assert all(f"部门{s}第{i:02d}项" in holder for i in range(40))
    joined = "\n\n".join(texts)
    positions = [joined.index(f"部门{s}第{i:02d}项") for s in range(8) for i in range(40)]
    assert positions == sorted(positions)


def test_a_section_longer_than_a_message_is_cut_between_its_lines() -> None:
    lines = tuple(f"第{i:03d}行：" + "进" * 30 for i in range(200))
    parts = render(Message(title="台账", sections=(Section(lines=lines),)))
    texts = [p.msg_param["text"] for p in parts]
    assert all(len(t) <= MAX_TEXT_CHARS for t in texts)
    for i in range(200):
        [holder] = [t for t in texts if f"第{i:03d}行" in t]
        assert f"第{i:03d}行：" + "进" * 30 in holder


def test_every_part_has_the_same_plain_title_cut_to_one_short_line() -> None:
    parts = render(Message(title="很长的标题\n" + "长" * 100, sections=(Section(lines=("x" * 1990,) * 3),)))
    assert {p.msg_param["title"] for p in parts} == {"很长的标题 " + "长" * 53 + "…"}


def _read_back(markdown: str) -> str:
    """What a CommonMark reader shows for escaped text: backslash escapes and entities resolved."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("&lt;", "<").replace("&amp;", "&")


@settings(derandomize=True, max_examples=300)
@given(st.text())
def test_any_text_is_shown_exactly_and_carries_no_live_markup(text: str) -> None:
    escaped = escape(text)
    assert _read_back(escaped) == text
    assert "<" not in escaped
    unescaped_specials = re.findall(r"(?<!\\)(?:\\\\)*[*_`\[\]()#>|~]", escaped)
    assert unescaped_specials == []


@settings(derandomize=True, max_examples=200)
@given(st.text(alphabet="&<\\\\*_ab进", min_size=1500, max_size=3000))
@example("&" * 1000)
@example("a" + "<" * 999)
@example("a" + "\\" * 1999)
def test_a_line_too_long_for_one_message_is_cut_between_whole_characters(line: str) -> None:
    parts = render(Message(title="", sections=(Section(lines=(line,)),)))
    texts = [p.msg_param["text"] for p in parts]
    assert all(len(t) <= MAX_TEXT_CHARS for t in texts)
    assert all(len(t) >= MAX_TEXT_CHARS - 5 for t in texts[:-1])  # full messages, not a stray character
    assert "".join(_read_back(t) for t in texts) == line
