"""Resource policies, tags and the per-function settings tools read (recursion, runtime management).

Revision ID: 0005
Revises: 0004

Tags used to live in each function's stored configuration (the `tags` member of function_versions.config). They are
not moved here: a row's ARN needs the server's region and account, which a migration does not know. The server moves
them at startup instead (control.tags.TagService.adopt_legacy), removing the member so that it happens once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Triggers rather than foreign keys, as in 0002: a deleted version takes its policy and settings with it; a deleted
# function ($LATEST row) takes all of them and its tags (keyed by ARN: matched on the ARN's ":function:NAME" end).
_FOLLOW_VERSIONS = """
CREATE TRIGGER policies_tags_settings_follow_versions AFTER DELETE ON function_versions
BEGIN
    DELETE FROM function_policies
    WHERE function_name = OLD.function_name AND (qualifier = OLD.version OR OLD.version = '$LATEST');
    DELETE FROM function_settings
    WHERE function_name = OLD.function_name AND (qualifier = OLD.version OR OLD.version = '$LATEST');
    DELETE FROM resource_tags
    WHERE OLD.version = '$LATEST'
      AND substr(resource, -length(':function:' || OLD.function_name)) = ':function:' || OLD.function_name;
END
"""
# An alias's policy goes with the alias (aliases: migration 0003).
_FOLLOW_ALIASES = """
CREATE TRIGGER policies_follow_aliases AFTER DELETE ON aliases
BEGIN
    DELETE FROM function_policies WHERE function_name = OLD.function_name AND qualifier = OLD.name;
END
"""


def upgrade() -> None:
    op.create_table(
        "function_policies",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("statements", sa.Text, nullable=False),
        sa.Column("revision_id", sa.String(36), nullable=False),
    )
    op.create_table(
        "resource_tags",
        sa.Column("resource", sa.String(256), primary_key=True),
        sa.Column("tag_key", sa.String(128), primary_key=True),
        sa.Column("tag_value", sa.String(256), nullable=False),
    )
    op.create_table(
        "function_settings",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("setting", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(_FOLLOW_VERSIONS)
        if sa.inspect(bind).has_table("aliases"):
            op.execute(_FOLLOW_ALIASES)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS policies_follow_aliases")
        op.execute("DROP TRIGGER IF EXISTS policies_tags_settings_follow_versions")
    op.drop_table("function_settings")
    op.drop_table("resource_tags")
    op.drop_table("function_policies")
