"""Files a reader takes away: the 台账 workbook of their county and a plan's 督查通报."""

import datetime as dt
import io
import tempfile
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import Session, col, select

from duban import tongbao
from duban.ledger import export_xlsx
from models import Contact, Plan
from web.data import visible_plan, visible_plans


def ledger_workbook(*, session: Session, reader: Contact) -> bytes:
    """`duban export --format xlsx`, with the sheets of other counties' plans taken out.

    The export writes one sheet per plan in plan-key order; the same order tells which sheet is whose.
    """
    mine = {p.id for p in visible_plans(session=session, reader=reader)}
    in_sheet_order = session.exec(select(Plan.id).order_by(col(Plan.key))).all()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.xlsx"
        export_xlsx(session=session, output=path)
        workbook = load_workbook(path)
    for sheet, plan_id in zip(list(workbook.worksheets), in_sheet_order, strict=True):
        if plan_id not in mine:
            workbook.remove(sheet)
    if not workbook.worksheets:  # a county without plans still gets a workbook that opens
        workbook.create_sheet("台账")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def tongbao_document(
    *, session: Session, reader: Contact, plan_id: int, today: dt.date
) -> tuple[Plan, bytes]:
    plan = visible_plan(session=session, reader=reader, plan_id=plan_id)
    return plan, tongbao.to_bytes(tongbao.gather(session=session, plans=[plan], today=today))
