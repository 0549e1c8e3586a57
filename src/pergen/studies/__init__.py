"""Studies built from ordinary `evaluate` runs: the cold-start sweep, the near-miss swap
study and the research notes' claims (`findings`) with their verdicts."""
