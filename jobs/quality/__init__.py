"""What each data-quality gate validates: the stage's new output, with derived check columns."""
