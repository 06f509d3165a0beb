"""Cross-cutting HTTP pieces: request ids, logging, body reading, health."""
