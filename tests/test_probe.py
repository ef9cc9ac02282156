"""The linear probe finds a linearly readable property and not an unreadable one."""
import pytest
import torch

from minillm.probe import (
    _accuracy,
    accuracy,
    majority_accuracy,
    probe_accuracy,
    train_probe,
)


def _data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 8, generator=g)
    labels = (features[:, 0] + 0.5 * features[:, 3] > 0).long()
    return features, labels


def test_probe_reads_a_linear_property():
    features, labels = _data()
    acc = probe_accuracy(features[:300], labels[:300], features[300:], labels[300:])
    assert acc > 0.95


def test_probe_cannot_read_noise():
    features, _ = _data()
    noise = torch.randint(2, (400,), generator=torch.Generator().manual_seed(1))
    acc = probe_accuracy(features[:300], noise[:300], features[300:], noise[300:])
    assert acc < 0.65


def test_probe_is_deterministic():
    features, labels = _data()
    a = train_probe(features, labels).linear.weight
    b = train_probe(features, labels).linear.weight
    assert torch.equal(a, b)


def test_majority_baseline():
    assert majority_accuracy([0, 1, 1, 1], [1, 0, 1, 1]) == 0.75
    assert accuracy(torch.tensor([1, 2]), torch.tensor([1, 3])) == 0.5


def test_probe_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n_examples, d"):
        train_probe(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="labels must be"):
        train_probe(torch.zeros(4, 2), torch.zeros(3))


def test_probe_accuracies_are_the_float32_means_they_always_were():
    """minillm.metrics.accuracy is the one accuracy; the probe's are rounded to float32, the
    numbers its old (predicted == labels).float().mean() gave, which chapter 8's outputs hold."""
    gen = torch.Generator().manual_seed(0)
    for n in (3, 7, 300, 1001, 4099):
        labels, predicted = torch.randint(3, (2, n), generator=gen)
        assert _accuracy(predicted, labels) == (predicted == labels).float().mean().item()
