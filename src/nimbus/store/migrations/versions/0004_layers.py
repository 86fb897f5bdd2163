"""Layer versions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "layers",
        sa.Column("name", sa.String(140), primary_key=True),
        sa.Column("last_version", sa.Integer, nullable=False),
    )
    op.create_table(
        "layer_versions",
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("created_date", sa.String(32), nullable=False),
        sa.Column("compatible_runtimes", sa.Text, nullable=True),
        sa.Column("compatible_architectures", sa.Text, nullable=True),
        sa.Column("license_info", sa.String(512), nullable=True),
        sa.Column("code_sha256_hex", sa.String(64), nullable=False),
        sa.Column("code_sha256", sa.String(44), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("policy", sa.Text, nullable=True),
        sa.Column("policy_revision", sa.String(36), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("layer_versions")
    op.drop_table("layers")
