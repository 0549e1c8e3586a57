"""Learning from LLM feedback: collecting it (`feedback`, `feedback_store`) and the
shared training loop and losses that ROPG and RSPG use."""
