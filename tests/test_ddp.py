"""torchrun with 2 gloo workers gives the weights one process gets from the same global batch."""
import pytest
import torch

from minillm.ddp import global_batches, train_data_parallel, train_single_process


def test_global_batches_are_shifted_windows():
    (x, y), *_ = global_batches(2, 4)
    assert x.shape == y.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])


@pytest.mark.slow
def test_two_workers_equal_one_process(tmp_path):
    weights, facts = train_data_parallel(tmp_path / "run", nproc=2, steps=3, batch_size=8)
    reference = train_single_process(steps=3, batch_size=8)
    assert facts["world_size"] == 2 and facts["threads"] == 1
    for name, value in reference.items():
        torch.testing.assert_close(weights[name], value, atol=1e-5, rtol=0)
