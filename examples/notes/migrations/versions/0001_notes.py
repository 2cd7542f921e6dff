"""Notes, with full-text search (PostgreSQL tsvector + GIN, SQLite FTS5).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    if dialect == "postgresql":
        op.execute("ALTER TABLE notes ADD COLUMN search tsvector GENERATED ALWAYS AS "
                   "(to_tsvector('english', title || ' ' || body || ' ' || tags)) STORED")
        op.execute("CREATE INDEX notes_search ON notes USING gin (search)")
    else:
        op.execute("CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, tags, content='notes', content_rowid='id')")
        op.execute("CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN "
                   "INSERT INTO notes_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); END")
        remove = "INSERT INTO notes_fts(notes_fts, rowid, title, body, tags) VALUES ('delete', old.id, old.title, old.body, old.tags);"
        op.execute(f"CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN {remove} END")
        op.execute(f"CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN {remove} "
                   "INSERT INTO notes_fts(rowid, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name in ("notes_ai", "notes_ad", "notes_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS notes_fts")
    op.drop_table("notes")
