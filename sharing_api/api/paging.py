"""Cursor paging for every list route: one style for all of them.

A list answers a JSON array of at most ``limit`` items (default 500, at most 1,000). When
more remain, the response carries the cursor of the next page in ``X-Next-Cursor`` and the
whole next URL in ``Link: <...>; rel="next"``; the last page carries neither. A cursor is
opaque to clients (today an item id): pass it back as ``cursor`` with the same filters.
A page may hold fewer items than ``limit`` (rows the caller may not see are left out) and
still have a next page: follow the cursor until there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
NEXT_CURSOR = "X-Next-Cursor"
MAX_CURSOR = 2**63 - 1  # the index stores ids as 64-bit integers

PAGE_HEADERS: dict[str, Any] = {
    NEXT_CURSOR: {
        "description": "the cursor of the next page; absent on the last page",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'the next page\'s URL, as <URL>; rel="next"; absent on the last page',
        "schema": {"type": "string"},
    },
}
# For a list route's `responses`: its 200 documents the paging headers.
PAGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "one page of the list", "headers": PAGE_HEADERS}
}

Row = TypeVar("Row")


class Page:
    """The ``cursor`` and ``limit`` query parameters, and the next-page headers."""

    def __init__(
        self,
        request: Request,
        response: Response,
        cursor: Annotated[
            int | None,
            Query(
                ge=0,
                le=MAX_CURSOR,
                description="from X-Next-Cursor of the previous page; omit for the first",
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description="items per page, at most 1000")
        ] = DEFAULT_LIMIT,
    ) -> None:
        self.request = request
        self.response = response
        self.cursor = cursor
        self.limit = limit

    @property
    def fetch(self) -> int:
        """Rows to ask the store for: one more than a page tells whether another follows."""
        return self.limit + 1

    def take(self, rows: Sequence[Row], key: str) -> list[Row]:
        """The page out of ``rows`` (up to ``fetch`` of them, in cursor order), setting the
        next-page headers from the last row of the page when more follow."""
        page = list(rows[: self.limit])
        if len(rows) > self.limit:
            last: Any = page[-1]
            self.set_next(int(last[key]))
        return page

    def set_next(self, cursor: int) -> None:
        url = self.request.url.include_query_params(cursor=cursor, limit=self.limit)
        self.response.headers[NEXT_CURSOR] = str(cursor)
        self.response.headers["Link"] = f'<{url}>; rel="next"'


PageDep = Annotated[Page, Depends()]
