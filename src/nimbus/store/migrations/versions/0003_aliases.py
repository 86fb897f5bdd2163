"""Aliases of function versions, and the per-function counter of published version numbers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Triggers rather than foreign keys, as in 0002: deleting a function ($LATEST row) takes its aliases and version
# counter with it; deleting an alias takes the event invoke config kept under the alias's name.
_TRIGGERS = (
    """
CREATE TRIGGER aliases_follow_functions AFTER DELETE ON function_versions
WHEN OLD.version = '$LATEST'
BEGIN
    DELETE FROM aliases WHERE function_name = OLD.function_name;
    DELETE FROM version_counters WHERE function_name = OLD.function_name;
END
""",
    """
CREATE TRIGGER event_invoke_configs_follow_aliases AFTER DELETE ON aliases
BEGIN
    DELETE FROM event_invoke_configs
    WHERE function_name = OLD.function_name AND qualifier = OLD.name;
END
""",
)
_TRIGGER_NAMES = ("aliases_follow_functions", "event_invoke_configs_follow_aliases")


def upgrade() -> None:
    op.create_table(
        "aliases",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("function_version", sa.String(32), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("weights", sa.Text, nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
    )
    op.create_table(
        "version_counters",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("last_version", sa.Integer, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("version_counters")
    op.drop_table("aliases")
