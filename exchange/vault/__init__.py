"""Encrypted storage of case content: records, documents and messages, each sealed with its own key."""
