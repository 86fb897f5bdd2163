"""The durable queue of asynchronous invokes, and event invoke configs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A deleted function version takes its event invoke config with it, as on AWS. A trigger rather than a foreign key:
# SQLite enforces foreign keys only on connections that ask for it, and function_versions is written elsewhere.
# PostgreSQL (the cluster mode) gets the equivalent trigger with its own migration.
_CLEANUP_TRIGGER = """
CREATE TRIGGER event_invoke_configs_follow_versions AFTER DELETE ON function_versions
BEGIN
    DELETE FROM event_invoke_configs
    WHERE function_name = OLD.function_name AND qualifier = OLD.version;
END
"""


def upgrade() -> None:
    op.create_table(
        "async_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("visible_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("throttles", sa.Integer, nullable=False),
        sa.Column("leased", sa.Boolean, nullable=False),
    )
    op.create_index("ix_async_events_visible_at", "async_events", ["visible_at"])
    op.create_index("ix_async_events_function_name", "async_events", ["function_name", "enqueued_at", "leased"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
        sa.Column("maximum_event_age", sa.Integer, nullable=True),
        sa.Column("on_success", sa.String(350), nullable=True),
        sa.Column("on_failure", sa.String(350), nullable=True),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_CLEANUP_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS event_invoke_configs_follow_versions")
    op.drop_table("event_invoke_configs")
    op.drop_index("ix_async_events_function_name", "async_events")
    op.drop_index("ix_async_events_visible_at", "async_events")
    op.drop_table("async_events")
