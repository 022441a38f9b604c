"""Files a reader takes away: the 台账 workbook of their county and a plan's 督查通报."""

import datetime as dt
import io
import tempfile
from pathlib import Path

from openpyxl import Workbook
from sqlmodel import Session

from duban import tongbao
from duban.ledger import export_xlsx
from models import Contact, Plan
from web.data import visible_plan, visible_plans


def ledger_workbook(*, session: Session, reader: Contact, today: dt.date, tz: dt.tzinfo) -> bytes:
    """`duban export --format xlsx`, limited to the reader's plans: other counties' plans are neither read nor
    written, so a big province's download costs one county's rows."""
    mine = [p.id for p in visible_plans(session=session, reader=reader) if p.id is not None]
    if not mine:  # a county without plans still gets a workbook that opens
        empty = Workbook()
        buffer = io.BytesIO()
        empty.save(buffer)
        return buffer.getvalue()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.xlsx"
        export_xlsx(session=session, output=path, today=today, tz=tz, plan_ids=mine)
        return path.read_bytes()


def tongbao_document(
    *, session: Session, reader: Contact, plan_id: int, today: dt.date, office: str | None = None
) -> tuple[Plan, bytes]:
    """The plan's 通报, signed by the issuing office (DUBAN_ISSUING_OFFICE) where one is set, else by the plan's
    issuer; no 发文字号, which the office's registry gives when it files the document."""
    plan = visible_plan(session=session, reader=reader, plan_id=plan_id)
    figures = tongbao.gather(session=session, plans=[plan], today=today)
    heading = tongbao.Heading(office=office, signed_on=figures.period_end) if office else None
    return plan, tongbao.to_bytes(figures, heading)
