"""Scoring runs: the official metrics, paired significance tests, label calibration,
confidence per answer, selective prediction and abstention."""
