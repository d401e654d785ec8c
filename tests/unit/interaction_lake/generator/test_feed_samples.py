"""The committed feed samples are exactly what the project's generator writes (so they never drift from it)."""

from interaction_lake.generator.feeds import SAMPLES, write_samples


def test_committed_samples_are_what_the_generator_writes(tmp_path):
    written = write_samples(tmp_path)
    assert written
    for path in written:
        committed = SAMPLES / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), f"{committed} differs: run python -m interaction_lake.generator.feeds"
