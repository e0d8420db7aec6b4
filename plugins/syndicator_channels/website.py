"""website channel (being written)."""
