"""transfers clients audit vault

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:48:17.384253
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_child_refs",
        sa.Column(
            "event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("event_seq", "ref", name=op.f("pk_audit_child_refs")),
    )
    with op.batch_alter_table("audit_child_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_child_refs_ref"), ["ref"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("actor_authority", sa.String(length=9), nullable=True),
        sa.Column("counterpart_authority", sa.String(length=9), nullable=True),
        sa.Column("client_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("acting_user", sa.String(length=200), nullable=True),
        sa.Column("transfer_id", sa.String(length=36), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=500), nullable=True),
        sa.Column("child_refs", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_events_acting_user"), ["acting_user"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_action_time", ["action", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_actor_time", ["actor_authority", "occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index("ix_audit_events_transfer", ["transfer_id"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blobs_key_id"), ["key_id"], unique=False)

    op.create_table(
        "api_clients",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("authority_gss", sa.String(length=9), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("previous_token_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_gss"],
            ["authorities.gss_code"],
            name=op.f("fk_api_clients_authority_gss_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("previous_token_hash", name=op.f("uq_api_clients_previous_token_hash")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_clients_token_hash")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_clients_authority_gss"), ["authority_gss"], unique=False
        )

    op.create_table(
        "idempotency_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_blob_id", sa.String(length=36), nullable=True),
        sa.Column("transfer_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_blob_id"],
            ["blobs.id"],
            name=op.f("fk_idempotency_keys_response_blob_id_blobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("client_id", "key", name=op.f("uq_idempotency_keys_client_id")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("from_authority", sa.String(length=9), nullable=False),
        sa.Column("to_authority", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_client", sa.String(length=36), nullable=False),
        sa.Column("created_by_user", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conference_due", sa.Date(), nullable=False),
        sa.Column("conference_clock_started", sa.Boolean(), nullable=False),
        sa.Column("supersedes_id", sa.String(length=36), nullable=True),
        sa.Column("superseded_by_id", sa.String(length=36), nullable=True),
        sa.Column("withdrawn_reason", sa.String(length=2000), nullable=True),
        sa.Column("content_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_authority"],
            ["authorities.gss_code"],
            name=op.f("fk_transfers_from_authority_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["transfers.id"], name=op.f("fk_transfers_supersedes_id_transfers")
        ),
        sa.ForeignKeyConstraint(
            ["to_authority"],
            ["authorities.gss_code"],
            name=op.f("fk_transfers_to_authority_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfers_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(
            "ix_transfers_from_created", ["from_authority", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_transfers_to_created", ["to_authority", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_transfers_to_status_created", ["to_authority", "status", "created_at"], unique=False
        )

    op.create_table(
        "transfer_children",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("record_blob_id", sa.String(length=36), nullable=True),
        sa.Column("nhs_ref", sa.String(length=80), nullable=True),
        sa.Column("la_child_ref", sa.String(length=80), nullable=True),
        sa.Column("receiver_child_id", sa.String(length=100), nullable=True),
        sa.Column("transfer_in_conference_date", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.String(length=2000), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user", sa.String(length=200), nullable=True),
        sa.Column("problems_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_blob_id"], ["blobs.id"], name=op.f("fk_transfer_children_record_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_transfer_children_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_children")),
        sa.UniqueConstraint(
            "transfer_id", "position", name=op.f("uq_transfer_children_transfer_id")
        ),
    )
    with op.batch_alter_table("transfer_children", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_children_la_child_ref"), ["la_child_ref"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transfer_children_nhs_ref"), ["nhs_ref"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transfer_children_transfer_id"), ["transfer_id"], unique=False
        )

    op.create_table(
        "transfer_documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("title_blob_id", sa.String(length=36), nullable=True),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column(
            "size_bytes", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_blob_id", sa.String(length=36), nullable=True),
        sa.Column("uploaded_by_authority", sa.String(length=9), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("acting_user", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_blob_id"],
            ["blobs.id"],
            name=op.f("fk_transfer_documents_content_blob_id_blobs"),
        ),
        sa.ForeignKeyConstraint(
            ["title_blob_id"], ["blobs.id"], name=op.f("fk_transfer_documents_title_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_transfer_documents_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_documents")),
    )
    with op.batch_alter_table("transfer_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_documents_transfer_id"), ["transfer_id"], unique=False
        )

    op.create_table(
        "transfer_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("in_reply_to", sa.String(length=36), nullable=True),
        sa.Column("author_authority", sa.String(length=9), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("acting_user", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body_blob_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["body_blob_id"], ["blobs.id"], name=op.f("fk_transfer_messages_body_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_transfer_messages_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_messages")),
    )
    with op.batch_alter_table("transfer_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_messages_transfer_id"), ["transfer_id"], unique=False
        )

    op.create_table(
        "transfer_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("authority", sa.String(length=9), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("acting_user", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_transfer_transitions_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_transitions")),
    )
    with op.batch_alter_table("transfer_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_transitions_transfer_id"), ["transfer_id"], unique=False
        )
    _after_upgrade()


def _after_upgrade() -> None:
    op.bulk_insert(
        sa.table(
            "audit_head",
            sa.column("id", sa.Integer),
            sa.column("seq", sa.BigInteger),
            sa.column("hash", sa.String),
        ),
        [{"id": 1, "seq": 0, "hash": "0" * 64}],
    )


def downgrade() -> None:
    with op.batch_alter_table("transfer_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_transitions_transfer_id"))

    op.drop_table("transfer_transitions")
    with op.batch_alter_table("transfer_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_messages_transfer_id"))

    op.drop_table("transfer_messages")
    with op.batch_alter_table("transfer_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_documents_transfer_id"))

    op.drop_table("transfer_documents")
    with op.batch_alter_table("transfer_children", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_children_transfer_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_children_nhs_ref"))
        batch_op.drop_index(batch_op.f("ix_transfer_children_la_child_ref"))

    op.drop_table("transfer_children")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_to_status_created")
        batch_op.drop_index("ix_transfers_to_created")
        batch_op.drop_index("ix_transfers_from_created")
        batch_op.drop_index(batch_op.f("ix_transfers_closed_at"))

    op.drop_table("transfers")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_authority_gss"))

    op.drop_table("api_clients")
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_key_id"))

    op.drop_table("blobs")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_transfer")
        batch_op.drop_index(batch_op.f("ix_audit_events_occurred_at"))
        batch_op.drop_index("ix_audit_events_actor_time")
        batch_op.drop_index("ix_audit_events_action_time")
        batch_op.drop_index(batch_op.f("ix_audit_events_acting_user"))

    op.drop_table("audit_events")
    with op.batch_alter_table("audit_child_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_child_refs_ref"))

    op.drop_table("audit_child_refs")
