"""A team knowledge base: the reference MCP server Bosun's image and manifests deploy.

Notes with tags; tools to add, update, delete and search them (PostgreSQL full-text
search, or SQLite FTS5 on the embedded default); a resource per note; a prompt.
Search results are cached (in memory, or Redis with REDIS_URL) and every write
invalidates them. With authentication on (docs/security.md), writing needs the
`notes:write` scope; reading needs only the server's own (BOSUN_AUTH_SCOPES).

    bosun db upgrade examples/notes/server.py   # once, as a Job in Kubernetes
    bosun serve examples/notes/server.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import text

from bosun import Context, ResourceNotFound, Server, ToolError

server = Server(
    "notes", "1.0.0",
    instructions="A team knowledge base. Search before adding; tag notes so others can find them.",
    database=True,
    migrations=str(Path(__file__).parent / "migrations"),
)


class Note(BaseModel):
    id: int
    title: str
    body: str
    tags: list[str]


class Hit(BaseModel):
    id: int
    title: str
    snippet: str
    tags: list[str]


def _tags(raw: str) -> list[str]:
    return [tag for tag in raw.split(",") if tag]


def _note(row: Any) -> Note:
    return Note(id=row.id, title=row.title, body=row.body, tags=_tags(row.tags))


async def _load(ctx: Context, note_id: int) -> Note | None:
    async with ctx.db() as session:
        row = (await session.execute(text("select id, title, body, tags from notes where id = :id"), {"id": note_id})).first()
    return _note(row) if row is not None else None


@server.tool(invalidates=["notes"], annotations={"destructiveHint": False}, scopes=["notes:write"])
async def add_note(title: Annotated[str, Field(min_length=1, max_length=200)], body: str, ctx: Context,
                   tags: Annotated[list[str], "labels to find the note by"] = []) -> Note:  # noqa: B006
    """Add a note to the knowledge base."""
    async with ctx.db() as session:
        row = (await session.execute(
            text("insert into notes (title, body, tags) values (:title, :body, :tags) returning id, title, body, tags"),
            {"title": title, "body": body, "tags": ",".join(sorted(set(tags)))})).one()
    return _note(row)


@server.tool(invalidates=["notes"], annotations={"idempotentHint": True}, scopes=["notes:write"])
async def update_note(id: int, ctx: Context, title: str | None = None, body: str | None = None,
                      tags: list[str] | None = None) -> Note:
    """Change a note's title, body or tags (only the fields given)."""
    current = await _load(ctx, id)
    if current is None:
        raise ToolError(f"No note with id {id}")  # the model reads this and can correct itself
    async with ctx.db() as session:
        row = (await session.execute(
            text("update notes set title = :title, body = :body, tags = :tags, updated_at = current_timestamp "
                 "where id = :id returning id, title, body, tags"),
            {"id": id, "title": title if title is not None else current.title,
             "body": body if body is not None else current.body,
             "tags": ",".join(sorted(set(tags if tags is not None else current.tags)))})).one()
    return _note(row)


@server.tool(invalidates=["notes"], annotations={"destructiveHint": True}, scopes=["notes:write"])
async def delete_note(id: int, ctx: Context) -> str:
    """Delete a note."""
    async with ctx.db() as session:
        deleted = (await session.execute(text("delete from notes where id = :id returning id"), {"id": id})).first()
    if deleted is None:
        raise ToolError(f"No note with id {id}")
    return f"deleted note {id}"


_SEARCH = {
    "postgresql": ("select id, title, tags, ts_headline('english', body, q, 'MaxWords=20') as snippet "
                   "from notes, websearch_to_tsquery('english', :query) q where search @@ q "
                   "{tag} order by ts_rank(search, q) desc, id limit :limit"),
    "sqlite": ("select notes.id, notes.title, notes.tags, snippet(notes_fts, 1, '', '', '...', 20) as snippet "
               "from notes_fts join notes on notes.id = notes_fts.rowid where notes_fts match :query "
               "{tag} order by bm25(notes_fts), notes.id limit :limit"),
}


def _fts_query(query: str) -> str:
    """SQLite FTS5 syntax is strict; quote each word so user input cannot break it."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in query.split())


@server.tool(cache_ttl=30, cache_tags=["notes"], annotations={"readOnlyHint": True})
async def search_notes(query: Annotated[str, Field(min_length=1)], ctx: Context, tag: str | None = None,
                       limit: Annotated[int, Field(ge=1, le=50)] = 10) -> list[Hit]:
    """Full-text search over titles, bodies and tags; best matches first."""
    database = ctx._app.database  # noqa: SLF001 - the dialect picks the SQL
    dialect = "postgresql" if database.dialect == "postgresql" else "sqlite"
    tag_filter = "and (',' || notes.tags || ',') like :tag" if tag else ""
    params: dict[str, Any] = {"query": query if dialect == "postgresql" else _fts_query(query), "limit": limit}
    if tag:
        params["tag"] = f"%,{tag},%"
    async with ctx.db() as session:
        rows = (await session.execute(text(_SEARCH[dialect].format(tag=tag_filter)), params)).all()
    return [Hit(id=row.id, title=row.title, snippet=row.snippet, tags=_tags(row.tags)) for row in rows]


@server.resource("note://{id}", mime_type="application/json", cache_scope="private")
async def note(id: int, ctx: Context) -> str:
    """One note, as JSON."""
    found = await _load(ctx, id)
    if found is None:
        raise ResourceNotFound()  # the client gets -32602 naming the URI, in both protocol eras
    return found.model_dump_json()


@server.prompt()
async def summarize(tag: Annotated[str, "the tag whose notes to summarize"], ctx: Context) -> str:
    """Summarize every note with a tag."""
    async with ctx.db() as session:
        rows = (await session.execute(text("select title, body from notes where (',' || tags || ',') like :tag "
                                           "order by id limit 50"), {"tag": f"%,{tag},%"})).all()
    listing = "\n\n".join(f"## {row.title}\n{row.body}" for row in rows) or "(no notes yet)"
    return f"Summarize these notes tagged '{tag}' for a new team member:\n\n{listing}"
