"""Studies built from ordinary `evaluate` runs: the cold-start sweep, the near-miss swap
study and the research notes' claims (`findings`) with their verdicts. Each registers in
`STUDIES` (`base`) behind one interface, so a new study is one module plus its
registration."""

from .base import STUDIES, Study, StudyFacts, run_study

__all__ = ["STUDIES", "Study", "StudyFacts", "run_study"]
