"""ROPG losses and the REINFORCE gradient against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from pergen.ropg import expected_reward, kd_loss, rewards, rl_loss, sample_actions


def test_kd_loss_is_the_kl_of_the_two_softmaxes() -> None:
    # target = softmax([1, 0]) = [e, 1] / (e + 1); retriever = softmax([0, 0]) = [.5, .5]
    t1 = math.e / (math.e + 1)
    t2 = 1 - t1
    by_hand = t1 * math.log(t1 / 0.5) + t2 * math.log(t2 / 0.5)  # 0.110944...
    loss = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(by_hand, abs=1e-6)
    assert by_hand == pytest.approx(0.110944, abs=1e-6)


def test_kd_loss_temperature_scales_both_sides() -> None:
    scores, fb = torch.tensor([[0.3, 1.0, -2.0]]), torch.tensor([[2.0, 0.0, 1.0]])
    assert kd_loss(scores * 2, fb * 2, temperature=2.0).item() == pytest.approx(
        kd_loss(scores, fb).item(), abs=1e-6)


def test_kd_loss_is_zero_when_scores_match_feedback_and_ignores_padding() -> None:
    fb = torch.tensor([[0.5, 0.1, 0.9, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    assert kd_loss(fb.clone(), fb, mask=mask).item() == pytest.approx(0.0, abs=1e-7)
    padded = kd_loss(torch.tensor([[0.0, 1.0, 2.0, 50.0]]), fb, mask=mask)
    plain = kd_loss(torch.tensor([[0.0, 1.0, 2.0]]), fb[:, :3])
    assert padded.item() == pytest.approx(plain.item(), abs=1e-6)


def test_kd_loss_is_the_batch_mean() -> None:
    a = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    b = kd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    both = kd_loss(torch.tensor([[0.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert both.item() == pytest.approx((a.item() + b.item()) / 2, abs=1e-6)


def test_rl_loss_and_gradient_by_hand() -> None:
    # Row 0: pi = softmax([0, ln 3]) = [.25, .75]; action 1; reward = .6 - .2 = .4.
    # Row 1: action 0 is the initial top item, so its reward is 0 and it adds no gradient.
    scores = torch.tensor([[0.0, math.log(3.0)], [0.5, 0.0]], requires_grad=True)
    fb = torch.tensor([[0.2, 0.6], [0.7, 0.1]])
    actions = torch.tensor([1, 0])
    assert rewards(fb, actions).tolist() == pytest.approx([0.4, 0.0])
    loss = rl_loss(scores, fb, actions)
    assert loss.item() == pytest.approx(-(0.4 * math.log(0.75) + 0.0) / 2, abs=1e-6)
    loss.backward()
    # d/ds [-r log pi_a] = -r (onehot(a) - pi), divided by the batch size 2
    expected = [[-0.4 * (0 - 0.25) / 2, -0.4 * (1 - 0.75) / 2], [0.0, 0.0]]
    assert scores.grad is not None
    assert scores.grad.tolist()[0] == pytest.approx(expected[0], abs=1e-6)
    assert scores.grad.tolist()[1] == pytest.approx(expected[1], abs=1e-6)


def test_negative_reward_pushes_the_sampled_item_down() -> None:
    scores = torch.zeros(1, 3, requires_grad=True)
    rl_loss(scores, torch.tensor([[0.9, 0.1, 0.5]]), torch.tensor([1])).backward()
    assert scores.grad is not None and scores.grad[0, 1] > 0  # gradient descent lowers it


def test_expected_reward_by_hand_and_with_padding() -> None:
    scores = torch.tensor([[0.0, math.log(3.0), 0.0]])
    fb = torch.tensor([[0.2, 0.6, 99.0]])
    mask = torch.tensor([[True, True, False]])
    assert expected_reward(scores, fb, mask).item() == pytest.approx(0.75 * 0.4, abs=1e-6)


def test_sampling_follows_the_policy_and_never_picks_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.tensor([[0.0, math.log(3.0), 10.0]]).repeat(4000, 1)
    mask = torch.tensor([[True, True, False]]).repeat(4000, 1)
    actions = sample_actions(scores, mask, gen)
    assert set(actions.tolist()) <= {0, 1}
    assert (actions == 1).float().mean().item() == pytest.approx(0.75, abs=0.03)
