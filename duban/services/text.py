"""User text on its way to the database."""


def storable(text: str) -> str:
    """Text the database can keep and compare: PostgreSQL refuses NUL, in a stored value as in a query."""
    return text.replace("\x00", "")
