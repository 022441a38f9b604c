"""Files a reader takes away: the 台账 workbook of their county and a plan's 督查通报."""

import datetime as dt
import io
import tempfile
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlmodel import Session, col

from duban import tongbao
from duban.ledger import export_xlsx
from models import Contact, Plan
from web.data import visible_plan, visible_plans


def ledger_workbook(*, session: Session, reader: Contact) -> bytes:
    """`duban export --format xlsx`, run on a session that only ever loads the reader's plans.

    The export reads every plan of the database; rather than change it, its queries get a filter on Plan
    (SQLAlchemy's with_loader_criteria, added to each ORM select of this session), so other counties' plans are
    neither read nor written, and a big province's download costs one county's rows.
    """
    mine = [p.id for p in visible_plans(session=session, reader=reader) if p.id is not None]

    def only_mine(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(
                with_loader_criteria(Plan, col(Plan.id).in_(mine), include_aliases=True)
            )

    if not mine:  # a county without plans still gets a workbook that opens
        empty = Workbook()
        buffer = io.BytesIO()
        empty.save(buffer)
        return buffer.getvalue()
    with Session(session.get_bind()) as scoped, tempfile.TemporaryDirectory() as directory:
        event.listen(scoped, "do_orm_execute", only_mine)
        path = Path(directory) / "ledger.xlsx"
        export_xlsx(session=scoped, output=path)
        return path.read_bytes()


def tongbao_document(
    *, session: Session, reader: Contact, plan_id: int, today: dt.date
) -> tuple[Plan, bytes]:
    plan = visible_plan(session=session, reader=reader, plan_id=plan_id)
    return plan, tongbao.to_bytes(tongbao.gather(session=session, plans=[plan], today=today))
