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

# The durable queue of asynchronous invokes (store/event_queue.py). A claimed event's visible_at is its lease
# deadline; `leased` tells claimed events from waiting ones for recovery after a restart and for the stats.
async_events = sa.Table(
    "async_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("function_name", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("visible_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("throttles", sa.Integer, nullable=False, default=0),
    sa.Column("leased", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_async_events_visible_at", "visible_at"),
    sa.Index("ix_async_events_function_name", "function_name", "enqueued_at", "leased"),
)

# Put/UpdateFunctionEventInvokeConfig, per function and qualifier. NULL columns were not set (AWS echoes only what
# was set). A trigger (migration 0002) deletes a qualifier's row when its function version is deleted.
event_invoke_configs = sa.Table(
    "event_invoke_configs",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
    sa.Column("maximum_event_age", sa.Integer, nullable=True),
    sa.Column("on_success", sa.String(350), nullable=True),
    sa.Column("on_failure", sa.String(350), nullable=True),
    sa.Column("last_modified", sa.Float, nullable=False),
)
