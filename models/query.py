"""Typing help for SQLAlchemy query building on SQLModel tables."""

from typing import Any, cast

from sqlalchemy.orm import QueryableAttribute


def rel(attribute: object) -> QueryableAttribute[Any]:
    """A relationship attribute, typed for loader options such as ``selectinload(rel(Plan.tasks))``.

    SQLModel annotates a relationship with its instance type (``list[Task]``, ``Plan``), so a type checker
    does not know that on the class it is SQLAlchemy's instrumented attribute. This only restores the type;
    the attribute is returned as it is.
    """
    return cast(QueryableAttribute[Any], attribute)
