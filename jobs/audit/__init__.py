"""Audit jobs: trace a mart row to its sources; read or rebuild a mart as of a past version."""
