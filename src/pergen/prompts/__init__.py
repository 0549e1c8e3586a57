"""Personalized prompts: the task's templates, the retrieved items and the token budget."""

from .templates import POSITIONS, PromptOptions, build_prompt

__all__ = ["POSITIONS", "PromptOptions", "build_prompt"]
