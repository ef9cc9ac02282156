"""Linear probes（探针）: does a layer's hidden state hold a property a straight line can read?

A probe is logistic regression on frozen features: if a linear classifier recovers, say, each
word's part of speech from layer 3's states much better than a baseline can, layer 3 encodes it.
Train on some examples, score on others; compare with the majority class, and with the same
probe on the embeddings or on a randomly initialised model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minillm.metrics import accuracy  # the one accuracy; minillm.probe.accuracy still works


class LinearProbe(nn.Module):
    """Standardise each feature (mean and std of the training set), then Linear(d, n_classes).
    features: (n, d) -> logits (n, n_classes)."""

    def __init__(self, mean, std, n_classes):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = nn.Linear(mean.shape[0], n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features):
        return self.linear((features - self.mean) / self.std)

    def predict(self, features):
        """The most likely class of each row: (n,) LongTensor."""
        with torch.no_grad():
            return self(features).argmax(dim=-1)


def _check(features, labels):
    features = torch.as_tensor(features, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if features.ndim != 2:
        raise ValueError(f"features must be (n_examples, d), got shape {tuple(features.shape)}")
    if labels.shape != features.shape[:1]:
        raise ValueError(f"labels must be (n_examples,) = ({features.shape[0]},), got shape "
                         f"{tuple(labels.shape)}")
    return features, labels


def train_probe(features, labels, n_classes=None, steps=300, lr=0.05, weight_decay=1e-3):
    """Fit a LinearProbe by full-batch AdamW on cross-entropy: deterministic (zero start, no
    sampling). features: (n, d); labels: (n,) ints in [0, n_classes). Returns the probe."""
    features, labels = _check(features, labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got [{int(labels.min())}, "
                         f"{int(labels.max())}]")
    mean, std = features.mean(dim=0), features.std(dim=0) + 1e-6
    probe = LinearProbe(mean, std, n_classes)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(features), labels).backward()
        optimizer.step()
    return probe.eval()


def _accuracy(predicted, labels):
    """minillm.metrics.accuracy of two label tensors, as a float32 number: the probe's accuracies
    always were one (a float32 mean), and chapter 8's outputs were computed so."""
    return float(torch.tensor(accuracy(labels.tolist(), predicted.tolist()), dtype=torch.float32))


def probe_accuracy(train_features, train_labels, test_features, test_labels, **options):
    """Train a probe on the training split and return its accuracy on the test split."""
    probe = train_probe(train_features, train_labels, **options)
    test_features, test_labels = _check(test_features, test_labels)
    return _accuracy(probe.predict(test_features), test_labels)


def majority_accuracy(train_labels, test_labels):
    """The baseline a probe must beat: always answer the training set's most common class."""
    train_labels = torch.as_tensor(train_labels, dtype=torch.long)
    majority = torch.bincount(train_labels).argmax()
    test_labels = torch.as_tensor(test_labels)
    return _accuracy(torch.full_like(test_labels, majority), test_labels)
