"""Lane sync, central side: the change feed a lane subscribes to, and the crossing
events lanes send back. See :mod:`central.store.changes` for the cursor design."""
