"""audit events: indexes for an authority's events by either column, newest first

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_seq", ["actor_authority", "seq"], unique=False)
        batch_op.create_index(
            "ix_audit_events_counterpart_seq", ["counterpart_authority", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_counterpart_seq")
        batch_op.drop_index("ix_audit_events_actor_seq")
