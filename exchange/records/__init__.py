"""Canonical records over HTTP: validation before a transfer."""
