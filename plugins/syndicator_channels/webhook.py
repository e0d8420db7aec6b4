"""webhook channel (being written)."""
