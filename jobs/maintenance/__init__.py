"""Maintenance of the lake itself: repairs of what an earlier release left behind."""
