"""An MCP Apps dashboard over the reference server: the latest notes, and a form to add one, in the chat.

`show_notes` is the model's tool: a host that renders views shows its result in the dashboard
(dashboard.html); any other client reads the same result as text. `dashboard_add_note` is the
dashboard's own button, hidden from the model (`visibility=["app"]`), and it needs `notes:write` like
every write, so the view's calls go through the same scopes, rate limits and audit trail.

    bosun db upgrade examples/notes/dashboard.py
    bosun serve examples/notes/dashboard.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field
from server import Note, add_note, server  # the reference server beside this file (`bosun serve` puts this folder on the path)
from sqlalchemy import text

from bosun import Context

dashboard = server.view(
    "ui://notes/dashboard",
    html=Path(__file__).with_name("dashboard.html"),
    title="Notes dashboard",
    description="The latest notes, and a form to add one",
    prefers_border=True,  # no `csp`: the view reaches nothing outside its own document
)


class Board(BaseModel):
    notes: list[Note]
    total: int


async def _board(ctx: Context, tag: str | None, limit: int) -> Board:
    where, params = ("where (',' || tags || ',') like :tag", {"tag": f"%,{tag},%"}) if tag else ("", {})
    async with ctx.db() as session:
        rows = (await session.execute(text(f"select id, title, body, tags from notes {where} order by id desc limit :limit"),
                                      {**params, "limit": limit})).all()
        total = (await session.execute(text(f"select count(*) from notes {where}"), params)).scalar_one()
    notes = [Note(id=row.id, title=row.title, body=row.body, tags=[tag for tag in row.tags.split(",") if tag]) for row in rows]
    return Board(notes=notes, total=total)


@server.tool(ui=dashboard, annotations={"readOnlyHint": True})
async def show_notes(ctx: Context, tag: str | None = None, limit: Annotated[int, Field(ge=1, le=50)] = 10) -> Board:
    """Show the latest notes (optionally with one tag) in an interactive dashboard."""
    return await _board(ctx, tag, limit)


@server.tool(ui=dashboard, visibility=["app"], scopes=["notes:write"], invalidates=["notes"])
async def dashboard_add_note(title: Annotated[str, Field(min_length=1, max_length=200)], ctx: Context, body: str = "") -> Board:
    """Add a note from the dashboard and return the board as it is now."""
    await add_note(title, body, ctx)
    return await _board(ctx, None, 10)
