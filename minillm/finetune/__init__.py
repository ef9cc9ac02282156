"""Fine-tuning: adapting a pretrained model to a task by training few of its weights, or few new
ones.

- run a body without its output head:         `hidden_states`, `run_layers`, `lm_logits`
- a task head on a pretrained body:           `SequenceClassifier`, `MultiTaskModel`, `pool`,
                                              `classification_batch`, `classification_loss`
- choose what trains:                         `freeze`, `unfreeze`, `unfreeze_last_layers`,
                                              `count_parameters`
- LoRA, low-rank updates beside frozen        `LoRALinear`, `add_lora`, `merge_lora`
  weights (Hu et al., 2021):
- prompt tuning, trainable "virtual tokens"   `SoftPrompt`
  before the input (Lester et al., 2021):
- instruction tuning, loss on the answer:     `instruction_batch`, `loss_on_response`,
                                              `instruction_loss`
- stop when validation stops improving:       `EarlyStopping`

One module per way (`minillm.finetune.heads`, `.freezing`, `.lora`, `.prompt_tuning`,
`.instruction`, `.early_stopping`); every name is importable from `minillm.finetune` too.
A "body" is a `minillm.Encoder` (BERT-style) or `minillm.DecoderLM` (GPT-style).
Every `*_loss(model, batch)` has the signature `minillm.train.train` takes as its loss_fn, and
`train`'s optimizer only updates parameters with requires_grad, so frozen weights stay put.
"""
from __future__ import annotations

from minillm.finetune.early_stopping import EarlyStopping
from minillm.finetune.freezing import (
    count_parameters,
    freeze,
    unfreeze,
    unfreeze_last_layers,
)
from minillm.finetune.heads import (
    POOLINGS,
    MultiTaskModel,
    SequenceClassifier,
    _check_body,
    _head,
    _pooling_for,
    classification_batch,
    classification_loss,
    hidden_states,
    pool,
    run_layers,
)
from minillm.finetune.instruction import (
    instruction_batch,
    instruction_loss,
    loss_on_response,
)
from minillm.finetune.lora import (
    LoRALinear,
    _replace,
    add_lora,
    merge_lora,
)
from minillm.finetune.prompt_tuning import SoftPrompt
from minillm.transformer import lm_logits
