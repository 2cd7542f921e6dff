"""A tool shaped the way the checklist asks, in Bosun."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from bosun import Server, ToolError

server = Server("billing")


@server.tool(scopes=["invoices:read"], annotations={"readOnlyHint": True})
def list_invoices(
    customer_id: Annotated[str, Field(description="The customer's id, as shown in the CRM (cus_...)")],
    start: Annotated[date, Field(description="First issue date to include (ISO 8601)")],
    end: Annotated[date, Field(description="Last issue date to include (ISO 8601)")],
    limit: Annotated[int, Field(ge=1, le=100, description="At most this many invoices, newest first")] = 20,
) -> list[dict[str, str | int]]:
    """List a customer's invoices issued between two dates, newest first.

    Use it to answer questions about past billing; use `get_invoice` for one invoice's lines.
    Returns id, issue date, total in cents and status for each invoice."""
    if end < start:
        raise ToolError("`end` is before `start`: swap them or widen the range")
    return [{"id": "inv_001", "issued": start.isoformat(), "total_cents": 12_000, "status": "paid"}][:limit]
