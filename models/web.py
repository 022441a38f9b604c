"""The web dashboard's sign-in: single-use links sent in chat (/web) and the browser sessions they open.

Only SHA-256 digests of the tokens are stored, as for invitations: a copy of the database opens no session.
"""

import datetime as dt

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class WebLogin(SQLModel, table=True):
    """A link a coordinator or lead asked for in chat; it opens one session, once, within minutes."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser: its cookie holds a random token, this row the token's digest."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # signed out
