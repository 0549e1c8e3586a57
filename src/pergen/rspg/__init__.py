"""RSPG (Salemi et al., SIGIR 2024, section 5): choose the retriever per input, and the
paper's analyses of where each retriever wins."""

DEFAULT_POOL = ("none", "recency", "bm25", "dense")
"""RSPG's retrievers, the default pool of every selector (the paper's also holds ROPG's)."""
