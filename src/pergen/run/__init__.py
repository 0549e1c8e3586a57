"""Running a configuration: the settings checked once, the per-question steps (rank,
prompt, answer), the resumable run folder and journal, and the `evaluate` and `rank`
jobs."""
