"""Evidence: fetched from the chat platform for readers who may see the report, never for anyone else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient
from telegram import Bot

from bot.core.evidence import EvidenceFile
from bot.telegram.evidence import TelegramEvidence
from duban.services.progress import attach_evidence
from scheduler.delivery import MessageRejected
from tests.telegram_fakes import TOKEN, RecordingRequest
from tests.web.conftest import FOREIGN_PLAN, HOME_PLAN, NOW, County, milestone_of, settings, sign_in
from tests.web.test_pages import NOT_YOURS, message
from web.app import build_web_app
from web.evidence import DingTalkEvidence, EvidenceSources

PHOTO = b"\xff\xd8\xff\xe0 a jpeg"
PDF = b"%PDF-1.4 a document"


class Platform:
    """The chat platform's files, by id."""

    def __init__(self) -> None:
        self.files = {
            "photo-1": EvidenceFile(PHOTO, "image/jpeg", "file_1.jpg"),
            "doc-1": EvidenceFile(PDF, "application/pdf", "验收报告.pdf"),
        }
        self.asked: list[str] = []

    async def fetch(self, file_id: str) -> EvidenceFile | None:
        self.asked.append(file_id)
        return self.files.get(file_id)


def _evidence(
    session: Session, county: County, plan_key: str, ref: str, file_id: str, *, foreign: bool = False
) -> int:
    contact = county.foreign_contact if foreign else county.contact
    milestone = milestone_of(session, plan_key, ref)
    report = attach_evidence(
        session=session, contact=contact, milestone_id=milestone.id or 0, file_id=file_id, now=NOW
    )
    assert report.id is not None
    return report.id


def test_images_open_in_the_browser_and_documents_download(
    seeded: Session, county: County, engine: Engine
) -> None:
    photo = _evidence(seeded, county, HOME_PLAN, "（二）", "photo-1")
    document = _evidence(seeded, county, HOME_PLAN, "（三）", "doc-1")
    platform = Platform()
    client = sign_in(
        TestClient(
            build_web_app(engine, settings(), lambda: NOW, evidence=EvidenceSources(telegram=platform))
        ),
        seeded,
        county.lead,
    )
    page = client.get(f"/milestones/{milestone_of(seeded, HOME_PLAN, '（二）').id}").text
    assert f'<a href="/evidence/{photo}" id="evidence-{photo}">📎 查看佐证材料</a>' in page
    image = client.get(f"/evidence/{photo}")
    assert (image.content, image.headers["content-type"]) == (PHOTO, "image/jpeg")
    assert image.headers["content-disposition"].startswith("inline;")
    pdf = client.get(f"/evidence/{document}")
    assert pdf.content == PDF
    assert (
        pdf.headers["content-disposition"]
        == "attachment; filename*=UTF-8''%E9%AA%8C%E6%94%B6%E6%8A%A5%E5%91%8A.pdf"
    )


def test_another_countys_evidence_is_not_fetched(seeded: Session, county: County, engine: Engine) -> None:
    foreign = _evidence(seeded, county, FOREIGN_PLAN, "（一）1", "photo-1", foreign=True)
    platform = Platform()
    client = sign_in(
        TestClient(
            build_web_app(engine, settings(), lambda: NOW, evidence=EvidenceSources(telegram=platform))
        ),
        seeded,
        county.coordinator,
    )
    for path in (f"/evidence/{foreign}", "/evidence/987654", "/evidence/x"):
        answer = client.get(path)
        assert answer.status_code == 404 and message(answer.text) == NOT_YOURS
    assert platform.asked == []


def test_without_a_source_the_pages_say_where_the_evidence_is(
    seeded: Session, county: County, app_client: TestClient
) -> None:
    photo = _evidence(seeded, county, HOME_PLAN, "（二）", "photo-1")
    sign_in(app_client, seeded, county.lead)
    page = app_client.get(f"/milestones/{milestone_of(seeded, HOME_PLAN, '（二）').id}").text
    assert "📎 佐证材料已通过 Telegram 发送，请在 Telegram 中查看。" in page and "/evidence/" not in page
    assert (
        message(app_client.get(f"/evidence/{photo}").text)
        == "佐证材料已通过 Telegram 发送，请在 Telegram 中查看。"
    )


class FileServer(RecordingRequest):
    """The Bot API's getFile and file download, for one stored file."""

    def __init__(self, path: str, content: bytes) -> None:
        super().__init__()
        self.path, self.content = path, content

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.endswith(self.path):
            self.calls.append(("download", {"url": url}))
            return 200, self.content
        return await super().do_request(url, method, *args, **kwargs)

    def _result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getFile":
            if params["file_id"] != "AgAC-photo":
                return None
            return {
                "file_id": params["file_id"],
                "file_unique_id": "u1",
                "file_size": 10,
                "file_path": self.path,
            }
        return super()._result(endpoint, params)


async def test_telegram_evidence_asks_getfile_then_downloads() -> None:
    request = FileServer("photos/file_7.jpg", PHOTO)
    source = TelegramEvidence(Bot(TOKEN, request=request, get_updates_request=RecordingRequest()))
    file = await source.fetch("AgAC-photo")
    assert file == EvidenceFile(PHOTO, "image/jpeg", "file_7.jpg")
    assert [endpoint for endpoint, _ in request.calls] == ["getMe", "getFile", "download"]
    assert request.calls[-1][1]["url"].startswith("https://api.telegram.org/file/bot")
    assert request.calls[-1][1]["url"].endswith("/photos/file_7.jpg")


async def test_a_file_telegram_no_longer_has_is_none() -> None:
    request = FileServer("photos/file_7.jpg", PHOTO)
    request.failures["getFile"] = [
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"})
    ]
    source = TelegramEvidence(Bot(TOKEN, request=request, get_updates_request=RecordingRequest()))
    assert await source.fetch("gone") is None


SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script href="/evidence/1"/></svg>'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR a png"


def test_a_file_is_shown_inline_only_when_its_bytes_are_a_raster_picture(
    seeded: Session, county: County, engine: Engine
) -> None:
    """A contact's SVG (it runs script), HTML named .jpg, or script must never be a page of the dashboard's."""
    platform = Platform()
    platform.files |= {
        "svg-1": EvidenceFile(SVG_WITH_SCRIPT, "image/svg+xml", "y.svg"),
        "fake-jpg": EvidenceFile(b"<html><script>alert(1)</script></html>", "image/jpeg", "photo.jpg"),
        "js-1": EvidenceFile(b"fetch('/pending')", "text/javascript", "x.js"),
        "png-named-txt": EvidenceFile(PNG, "text/plain", "scan.txt"),
    }
    reports = {
        file_id: _evidence(seeded, county, HOME_PLAN, ref, file_id)
        for file_id, ref in (
            ("svg-1", "（二）"),
            ("fake-jpg", "（三）"),
            ("js-1", "（四）"),
            ("png-named-txt", "（五）"),
        )
    }
    client = sign_in(
        TestClient(
            build_web_app(engine, settings(), lambda: NOW, evidence=EvidenceSources(telegram=platform))
        ),
        seeded,
        county.coordinator,
    )
    served = {file_id: client.get(f"/evidence/{report}") for file_id, report in reports.items()}

    for file_id in ("svg-1", "fake-jpg", "js-1"):
        response = served[file_id]
        assert response.headers["content-type"] == "application/octet-stream", file_id
        assert response.headers["content-disposition"].startswith("attachment;"), file_id
    png = served["png-named-txt"]
    assert (png.headers["content-type"], png.headers["content-disposition"][:7]) == ("image/png", "inline;")
    for response in served.values():
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'; sandbox" in response.headers.get_list("content-security-policy")


class DingTalkFiles:
    """DingTalk's message-file download, by downloadCode (what DingTalkApi.download answers)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[str] = []

    async def download(self, download_code: str) -> bytes:
        self.asked.append(download_code)
        if download_code not in self.files:
            raise MessageRejected("downloadCode无效")
        return self.files[download_code]


def test_a_picture_sent_on_dingtalk_is_shown_and_a_file_downloads(
    seeded: Session, county: County, engine: Engine
) -> None:
    photo = _evidence(seeded, county, HOME_PLAN, "（二）", "dingtalk:code-photo")
    script = _evidence(seeded, county, HOME_PLAN, "（三）", "dingtalk:code-svg")
    gone = _evidence(seeded, county, HOME_PLAN, "（四）", "dingtalk:code-gone")
    files = DingTalkFiles({"code-photo": PNG, "code-svg": SVG_WITH_SCRIPT})
    sources = EvidenceSources(telegram=Platform(), dingtalk=DingTalkEvidence(files))
    client = sign_in(
        TestClient(build_web_app(engine, settings(), lambda: NOW, evidence=sources)),
        seeded,
        county.coordinator,
    )

    page = client.get(f"/milestones/{milestone_of(seeded, HOME_PLAN, '（二）').id}").text
    assert f'<a href="/evidence/{photo}" id="evidence-{photo}">📎 查看佐证材料</a>' in page
    shown = client.get(f"/evidence/{photo}")
    assert (shown.content, shown.headers["content-type"]) == (PNG, "image/png")
    assert shown.headers["content-disposition"] == "inline; filename*=UTF-8''evidence.png"
    downloaded = client.get(f"/evidence/{script}")
    assert downloaded.headers["content-type"] == "application/octet-stream"
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert message(client.get(f"/evidence/{gone}").text) == "佐证材料已通过钉钉发送，请在钉钉中查看。"
    client.get(f"/evidence/{photo}")
    assert files.asked == [
        "code-photo",
        "code-svg",
        "code-gone",
    ]  # the picture came from the cache the second time


def test_without_dingtalk_the_pages_say_the_evidence_was_sent_there(
    seeded: Session, county: County, engine: Engine
) -> None:
    photo = _evidence(seeded, county, HOME_PLAN, "（二）", "dingtalk:code-photo")
    platform = Platform()
    client = sign_in(
        TestClient(
            build_web_app(engine, settings(), lambda: NOW, evidence=EvidenceSources(telegram=platform))
        ),
        seeded,
        county.lead,
    )
    page = client.get(f"/milestones/{milestone_of(seeded, HOME_PLAN, '（二）').id}").text
    assert "📎 佐证材料已通过钉钉发送，请在钉钉中查看。" in page and "/evidence/" not in page
    assert message(client.get(f"/evidence/{photo}").text) == "佐证材料已通过钉钉发送，请在钉钉中查看。"
    assert platform.asked == []  # a DingTalk file is never asked of Telegram
