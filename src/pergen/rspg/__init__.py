"""RSPG (Salemi et al., SIGIR 2024, section 5): choose the retriever per input, and the
paper's analyses of where each retriever wins."""
