"""Agent registry, message router, and their database store."""
