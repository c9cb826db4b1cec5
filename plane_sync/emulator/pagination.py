"""Plane's offset paginator (``per_page`` + ``cursor = "<per_page>:<page>:<is_prev>"``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULT_PER_PAGE = 1000
MAX_PER_PAGE = 1000


class PageError(ValueError):
    """Answered as 400 ``{"detail": <message>}``."""


def paginate(rows: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    try:
        per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        raise PageError("Invalid per_page parameter.") from None
    if per_page > MAX_PER_PAGE:
        raise PageError(f"Invalid per_page value. Cannot exceed {MAX_PER_PAGE}.")
    if per_page < 1:
        raise PageError("Invalid per_page parameter.")
    page = 0
    if "cursor" in query:
        try:
            _, page_text, prev_text = query["cursor"].split(":")
            page, _is_prev = int(page_text), int(prev_text)
        except ValueError:
            raise PageError("Invalid cursor parameter.") from None
        if page < 0:
            raise PageError("Invalid cursor parameter.")
    # The offset uses per_page from the query, not from the cursor (as Plane does).
    offset = page * per_page
    results = rows[offset : offset + per_page]
    total = len(rows)
    return {
        "grouped_by": None, "sub_grouped_by": None, "total_count": total,
        "next_cursor": f"{per_page}:{page + 1}:0", "prev_cursor": f"{per_page}:{page - 1}:1",
        "next_page_results": offset + per_page < total, "prev_page_results": page > 0,
        "count": len(results), "total_pages": math.ceil(total / per_page),
        "total_results": total, "extra_stats": None, "results": results,
    }
