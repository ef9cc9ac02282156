"""One layer split across two gloo processes (tensor parallelism) equals the same layer in one."""
import pytest
import torch

from minillm.config import TransformerConfig
from minillm.tensor_parallel import (
    example_inputs,
    example_layer,
    expected_on_rank,
    forward_backward,
    run_single_process,
    run_tensor_parallel,
    shard_layer,
)

CONFIGS = {
    "gpt2_like": TransformerConfig.gpt2_like(vocab_size=64, d_model=32, n_heads=4, n_layers=1,
                                             d_ff=64, max_seq_len=16),
    # SwiGLU, rotary positions, no biases, and grouped-query attention (2 key/value heads)
    "llama_like": TransformerConfig.llama_like(vocab_size=64, d_model=32, n_heads=4,
                                               n_kv_heads=2, n_layers=1, d_ff=64,
                                               max_seq_len=16),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_shards_hold_their_slice_of_each_weight(name):
    cfg = CONFIGS[name]
    layer = example_layer(cfg)
    shard = shard_layer(layer, 1, 2)
    d_q, d_kv = cfg.d_model // 2, cfg.kv_heads * cfg.d_head // 2
    shapes = {name: tuple(p.shape) for name, p in shard.state_dict().items()}
    assert shapes["self_attn.q_proj.weight"] == (d_q, cfg.d_model)
    assert shapes["self_attn.k_proj.weight"] == shapes["self_attn.v_proj.weight"] == (d_kv, 32)
    assert shapes["self_attn.out_proj.weight"] == (cfg.d_model, d_q)
    assert shapes["ff.up.weight"] == (cfg.d_ff // 2, cfg.d_model)
    assert shapes["ff.down.weight"] == (cfg.d_model, cfg.d_ff // 2)
    assert shapes["norm1.weight"] == (cfg.d_model,)
    assert shard.state_dict().keys() == layer.state_dict().keys()
    full = layer.state_dict()
    assert torch.equal(shard.ff.up.weight, full["ff.up.weight"][cfg.d_ff // 2:])
    assert torch.equal(shard.ff.down.weight, full["ff.down.weight"][:, cfg.d_ff // 2:])


@pytest.mark.parametrize("name", CONFIGS)
def test_one_shard_of_one_is_the_layer(name):
    cfg = CONFIGS[name]
    layer = example_layer(cfg)
    ours = forward_backward(shard_layer(layer, 0, 1), *example_inputs(cfg))
    reference = run_single_process(cfg)
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        torch.testing.assert_close(ours[key], value, atol=1e-6, rtol=0, msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_two_processes_equal_one(name, tmp_path):
    cfg = CONFIGS[name]
    ranks = run_tensor_parallel(tmp_path, cfg, world_size=2)
    reference = run_single_process(cfg)
    for rank, results in enumerate(ranks):
        expected = expected_on_rank(reference, rank, 2)
        assert results.keys() == expected.keys()
        for key, value in expected.items():
            assert results[key].shape == value.shape, key
            torch.testing.assert_close(results[key], value, atol=1e-5, rtol=0,
                                       msg=f"rank {rank}: {key}")


@pytest.mark.parametrize("changes, words", [
    (dict(n_heads=4, d_ff=64), "world_size=3"),
    (dict(n_heads=2, d_ff=66), "n_heads=2 is not divisible by world_size=4"),
    (dict(n_heads=4, d_ff=66), "d_ff=66 is not divisible by world_size=4"),
    (dict(n_heads=4, n_kv_heads=2, d_ff=64), "n_kv_heads=2 is not divisible by world_size=4"),
])
def test_world_size_that_does_not_split_the_layer_is_refused(changes, words):
    cfg = TransformerConfig.tiny(d_model=32, n_layers=1, **changes)
    world_size = int(words.split("world_size=")[1])
    with pytest.raises(ValueError, match=words):
        shard_layer(example_layer(cfg), 0, world_size)


@pytest.mark.parametrize("rank, world_size, words", [
    (2, 2, "rank must be 0 ... 1"), (0, 0, "world_size must be"), (0, 2.0, "world_size must be")])
def test_bad_rank_or_world_size_is_refused(rank, world_size, words):
    with pytest.raises(ValueError, match=words):
        shard_layer(example_layer(CONFIGS["gpt2_like"]), rank, world_size)


def test_a_shard_outside_its_process_group_says_so():
    cfg = CONFIGS["gpt2_like"]
    with pytest.raises(RuntimeError, match="process group"):
        forward_backward(shard_layer(example_layer(cfg), 0, 2), *example_inputs(cfg))


def test_a_layer_with_dropout_or_not_a_gpt_block_is_refused():
    cfg = CONFIGS["gpt2_like"]
    with pytest.raises(ValueError, match="no dropout"):
        shard_layer(example_layer(cfg.replace(dropout=0.1)), 0, 2)
    with pytest.raises(TypeError, match="EncoderLayer"):
        shard_layer(example_layer(cfg).ff, 0, 2)


@pytest.mark.slow
def test_a_failing_worker_is_reported_with_its_output(tmp_path):
    (tmp_path / "rank1.safetensors").mkdir()      # rank 1 cannot save its results there
    with pytest.raises(RuntimeError, match="rank 1 exited"):
        run_tensor_parallel(tmp_path, CONFIGS["gpt2_like"], world_size=2)
