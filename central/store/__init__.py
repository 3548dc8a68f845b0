"""Central's state: peewee models on SQLite (default) or PostgreSQL (by URL)."""
