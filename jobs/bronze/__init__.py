"""Bronze: land raw events from the landing zone into append-only Delta tables."""
