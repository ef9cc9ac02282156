"""minillm.np: the NumPy reference of every layer, forward and hand-written backward, and of the
optimizer that trains them (minillm.np.optim).

Each `f(params, x, ...)` has an `f_backward(dy, params, x, ...)`; parameters are dicts keyed like
the PyTorch twin's state_dict, so `{k: v.numpy() for k, v in module.state_dict().items()}` runs
the same model here.
"""
from minillm.np.attention import (
    KVCache,
    causal_mask,
    merge_heads,
    multi_head_attention,
    multi_head_attention_backward,
    padding_mask,
    repeat_kv,
    repeat_kv_backward,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    split_heads,
)
from minillm.np.functional import (
    cross_entropy,
    cross_entropy_backward,
    gelu,
    gelu_backward,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    silu,
    silu_backward,
    softmax,
    softmax_backward,
)
from minillm.np.layers import (
    embedding,
    embedding_backward,
    feed_forward,
    feed_forward_backward,
    layer_norm,
    layer_norm_backward,
    linear,
    linear_backward,
    norm,
    norm_backward,
    prefixed,
    rms_norm,
    rms_norm_backward,
    subparams,
    swiglu,
    swiglu_backward,
)
from minillm.np.optim import (
    adam_step,
    adamw_step,
    clip_grad_norm,
    lr_at,
    momentum_step,
    sgd_step,
)
from minillm.np.positional import (
    learned_positions,
    learned_positions_backward,
    rope,
    rope_angles,
    rope_backward,
    rotate_half,
    sinusoidal_encoding,
)
from minillm.np.transformer import (
    decoder_layer,
    decoder_layer_backward,
    decoder_lm,
    decoder_lm_backward,
    embed,
    embed_backward,
    encoder,
    encoder_backward,
    encoder_decoder,
    encoder_decoder_backward,
    encoder_layer,
    encoder_layer_backward,
    residual,
    residual_backward,
)
