"""The relational schema, one definition for SQLite and PostgreSQL (SQLAlchemy Core, no ORM)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

function_versions = sa.Table(
    "function_versions",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    # "$LATEST" or a published version number, as text.
    sa.Column("version", sa.String(32), primary_key=True),
    # The FunctionConfig, encoded by store.codec; its columns are what queries filter or sort on.
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log_group", sa.String(512), nullable=False),
    sa.Column("log_stream", sa.String(512), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_log_events_group_id", "log_group", "id"),
)
