"""Data-protection jobs: customer erasure (right to be forgotten)."""
