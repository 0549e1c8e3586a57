"""No-LLM baselines: answers from the profile alone (knn, copy-input, the profile prior,
the similarity and kNN votes). They register in the model registry beside the LLM
backends, so every run and table can put them next to the methods as references."""

from . import priors, simple, votes  # noqa: F401  (registers knn, copy-input, the prior, votes)
