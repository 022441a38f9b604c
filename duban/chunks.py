"""Long lists of ids read in parts, so that no statement binds more parameters than a backend allows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# ids per IN list: far inside SQLite's 32,766 and PostgreSQL's 65,535 bound parameters, and small enough that a
# part's rows stay a few megabytes
IDS_PER_QUERY = 500


def in_parts(items: Sequence[T], size: int = IDS_PER_QUERY) -> Iterator[list[T]]:
    """`items` in consecutive slices of at most `size`, in order."""
    for first in range(0, len(items), size):
        yield list(items[first : first + size])
