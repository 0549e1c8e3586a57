"""ROPG (Salemi et al., SIGIR 2024, section 4): train the dense retriever from LLM feedback.

Collect feedback with `pergen.training.feedback.collect_feedback`, then `train_retriever` with
``TrainConfig(method="kd")`` (knowledge distillation) or ``"rl"`` (REINFORCE); the output
folder is a dense retriever: ``get_retriever("ropg-kd:FOLDER")``.
"""

from ..training.config import METHODS, TrainConfig
from ..training.loop import Example, History
from ..training.losses import expected_reward, kd_loss, rewards, rl_loss, sample_actions
from .train import BiEncoder, load_examples, train_retriever

__all__ = ["METHODS", "BiEncoder", "Example", "History", "TrainConfig", "expected_reward", "kd_loss",
           "load_examples", "rewards", "rl_loss", "sample_actions", "train_retriever"]
