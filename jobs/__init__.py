"""Spark jobs: pure DataFrame/row transformations plus a thin I/O shell per job."""
