"""The embedded models' classifier: transformers' XLMRobertaForSequenceClassification (one logit), as modelkit calls it.

The committed weights (models/ko-reranker-*/model.safetensors) carry transformers' parameter names and load into it
unchanged. `xlmr_config` holds the embedded models' defaults and `config_json` writes config.json as these models
ship it; `XLMRobertaForSequenceClassification(config)(ids, mask)` returns the logits tensor [batch, 1].
"""

from __future__ import annotations

import torch
from transformers import XLMRobertaConfig
from transformers import XLMRobertaForSequenceClassification as _HfClassifier

# config.json's own fields, in the order the committed files have them; the rest are transformers' fixed values.
FIELDS = {
    "vocab_size": None,
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "layer_norm_eps": 1e-5,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
}


def xlmr_config(**fields) -> XLMRobertaConfig:  # noqa: ANN003
    """An XLM-R config with one label and the embedded models' defaults (FIELDS) for what `fields` leaves out."""
    values = {k: fields.pop(k, v) for k, v in FIELDS.items()}
    if values["vocab_size"] is None:
        raise TypeError("xlmr_config needs vocab_size")
    if fields:
        raise TypeError(f"unknown fields {sorted(fields)}")
    return XLMRobertaConfig(**values, num_labels=1, hidden_act="gelu", classifier_dropout=None)


def config_from_json(config: dict) -> XLMRobertaConfig:
    """The FIELDS of a config.json (the rest are transformers' values for an xlm-roberta classifier)."""
    return xlmr_config(**{k: v for k, v in config.items() if k in FIELDS})


def config_json(c: XLMRobertaConfig, num_labels: int = 1) -> dict:
    """config.json as transformers writes it for an xlm-roberta sequence classifier (the committed files' layout)."""
    return {
        "architectures": ["XLMRobertaForSequenceClassification"],
        **{k: getattr(c, k) for k in FIELDS},
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "id2label": {str(i): f"LABEL_{i}" for i in range(num_labels)},
        "initializer_range": 0.02,
        "label2id": {f"LABEL_{i}": i for i in range(num_labels)},
        "model_type": "xlm-roberta",
        "output_past": True,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "use_cache": True,
    }


class XLMRobertaForSequenceClassification(_HfClassifier):
    """transformers' class, called as modelkit does: model(input_ids, attention_mask) -> logits [batch, num_labels]."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):  # noqa: ANN003, ANN201
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
