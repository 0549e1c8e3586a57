"""Personalized prompts: the task's templates, the retrieved items and the token budget."""

from .templates import POSITIONS, PROMPT_STYLES, PromptOptions, build_prompt

__all__ = ["POSITIONS", "PROMPT_STYLES", "PromptOptions", "build_prompt"]
