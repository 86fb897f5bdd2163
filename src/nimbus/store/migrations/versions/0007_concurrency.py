"""Reserved and provisioned concurrency.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Triggers rather than foreign keys, as in 0002 and 0003: a deleted function takes its reservation and provisioned
# configs with it, a deleted version or alias the provisioned config kept under its qualifier.
_TRIGGERS = (
    """
CREATE TRIGGER concurrency_follows_functions AFTER DELETE ON function_versions
WHEN OLD.version = '$LATEST'
BEGIN
    DELETE FROM function_concurrency WHERE function_name = OLD.function_name;
    DELETE FROM provisioned_concurrency WHERE function_name = OLD.function_name;
END
""",
    """
CREATE TRIGGER provisioned_concurrency_follows_versions AFTER DELETE ON function_versions
BEGIN
    DELETE FROM provisioned_concurrency WHERE function_name = OLD.function_name AND qualifier = OLD.version;
END
""",
    """
CREATE TRIGGER provisioned_concurrency_follows_aliases AFTER DELETE ON aliases
BEGIN
    DELETE FROM provisioned_concurrency WHERE function_name = OLD.function_name AND qualifier = OLD.name;
END
""",
)
_TRIGGER_NAMES = (
    "concurrency_follows_functions",
    "provisioned_concurrency_follows_versions",
    "provisioned_concurrency_follows_aliases",
)


def upgrade() -> None:
    op.create_table(
        "function_concurrency",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("reserved", sa.Integer, nullable=False),
    )
    op.create_table(
        "provisioned_concurrency",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("last_modified", sa.String(32), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("provisioned_concurrency")
    op.drop_table("function_concurrency")
