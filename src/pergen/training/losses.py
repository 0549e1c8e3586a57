"""Listwise objectives over a batch of questions, each with up to l scored candidates:
ROPG's profile items, RSPG's retrievers (whose selector is trained with `kd_loss`).

Shapes: ``scores`` and ``feedback`` are (B, l); ``mask`` (B, l) is True for real items
(profiles shorter than l leave padding). Column 0 is the initial retriever's top item.
"""

from __future__ import annotations

import torch

_NEG = -1e9  # logit for padding: exp() underflows to exactly 0 in float32


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x.masked_fill(~mask, _NEG)


def kd_loss(scores: torch.Tensor, feedback: torch.Tensor, temperature: float = 1.0,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """ROPG-KD (paper eq. 4): mean over questions of KL(p_t || p_r) where
    p_t = softmax(feedback / T) and p_r = softmax(scores / T) over the l items."""
    target = torch.softmax(_masked(feedback / temperature, mask), dim=-1)
    log_p = torch.log_softmax(_masked(scores / temperature, mask), dim=-1)
    # xlogy gives 0 * log 0 = 0 on padding, where target is exactly 0.
    kl = torch.xlogy(target, target) - target * log_p
    return kl.sum(-1).mean()


def rewards(feedback: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """ROPG-RL's reward (paper eq. 2): feedback of the sampled item minus that of the
    initial retriever's top item (column 0)."""
    return feedback.gather(-1, actions[:, None])[:, 0] - feedback[:, 0]


def rl_loss(scores: torch.Tensor, feedback: torch.Tensor, actions: torch.Tensor,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """REINFORCE (paper eq. 3) as a loss to minimize: -mean(reward * log pi(action)),
    with pi = softmax(scores). Its gradient w.r.t. scores is -reward (onehot - pi) / B."""
    log_pi = torch.log_softmax(_masked(scores, mask), dim=-1)
    picked = log_pi.gather(-1, actions[:, None])[:, 0]
    return -(rewards(feedback, actions).detach() * picked).mean()


def sample_actions(scores: torch.Tensor, mask: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """One item per question, drawn from the policy softmax(scores)."""
    probs = torch.softmax(_masked(scores.detach().float(), mask), dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def expected_reward(scores: torch.Tensor, feedback: torch.Tensor,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """E_{a ~ pi}[reward], mean over questions: RL's exact (sampling-free) dev objective."""
    pi = torch.softmax(_masked(scores, mask), dim=-1)
    gain = feedback - feedback[:, :1]
    return (pi * (gain if mask is None else gain.masked_fill(~mask, 0.0))).sum(-1).mean()
