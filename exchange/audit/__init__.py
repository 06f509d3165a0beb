"""The audit log: append-only, hash-chained, answerable for auditors."""
