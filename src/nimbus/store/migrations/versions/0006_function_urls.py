"""Function URL configs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A deleted function takes its URLs with it (deleting $LATEST's row means the whole function went), and a deleted
# alias its own URL, as on AWS. Triggers rather than foreign keys, for the reason migration 0002 gives.
_TRIGGERS = {
    "function_url_configs_follow_functions": """
CREATE TRIGGER function_url_configs_follow_functions AFTER DELETE ON function_versions
WHEN OLD.version = '$LATEST'
BEGIN
    DELETE FROM function_url_configs WHERE function_name = OLD.function_name;
END
""",
    "function_url_configs_follow_aliases": """
CREATE TRIGGER function_url_configs_follow_aliases AFTER DELETE ON aliases
BEGIN
    DELETE FROM function_url_configs WHERE function_name = OLD.function_name AND qualifier = OLD.name;
END
""",
}


def upgrade() -> None:
    op.create_table(
        "function_url_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("url_id", sa.String(32), nullable=False, unique=True),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("invoke_mode", sa.String(16), nullable=False),
        sa.Column("cors", sa.Text, nullable=True),
        sa.Column("creation_time", sa.String(32), nullable=False),
        sa.Column("last_modified_time", sa.String(32), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _TRIGGERS.values():
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("function_url_configs")
