"""XLM-RoBERTa sequence classifier (one logit) in plain torch, with Hugging Face parameter names.

A state dict saved from this module loads into transformers' XLMRobertaForSequenceClassification and back,
so the tiny model and the real Dongjin-kr/ko-reranker share one code path (export, serving, tests).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class XLMRConfig:
    vocab_size: int
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    layer_norm_eps: float = 1e-5
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def from_hf(cls, config: dict) -> XLMRConfig:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in config.items() if k in fields})

    def to_hf(self, num_labels: int = 1) -> dict:
        """config.json as transformers writes it for an xlm-roberta sequence classifier."""
        return {
            "architectures": ["XLMRobertaForSequenceClassification"],
            **asdict(self),
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


class Embeddings(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.padding_idx = c.pad_token_id
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size, padding_idx=c.pad_token_id)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # RoBERTa position ids: running count of non-pad tokens, offset past padding_idx; pads keep padding_idx.
        not_pad = input_ids.ne(self.padding_idx).int()
        positions = (torch.cumsum(not_pad, dim=1).type_as(not_pad) * not_pad).long() + self.padding_idx
        types = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(types)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.head_size = c.hidden_size // c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_size).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size) + mask_bias
        context = torch.matmul(self.dropout(torch.softmax(scores, dim=-1)), v)
        batch, _, length, _ = context.shape
        return context.transpose(1, 2).reshape(batch, length, self.heads * self.head_size)


class DenseResidualNorm(nn.Module):
    """dense -> dropout -> LayerNorm(x + residual): the post-LN output block of BERT/RoBERTa."""

    def __init__(self, inner: int, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseResidualNorm(c.hidden_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask_bias), x)


class Intermediate(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.dense(x))  # exact (erf) GELU, as "gelu" in transformers


class Layer(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseResidualNorm(c.intermediate_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask_bias)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask_bias)
        return x


class Roberta(nn.Module):
    def __init__(self, c: XLMRConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # -1e4 (BERT's original constant) instead of finfo.min: same softmax, and finite in an fp16 export.
        mask_bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        return self.encoder(self.embeddings(input_ids), mask_bias)


class ClassificationHead(nn.Module):
    def __init__(self, c: XLMRConfig, num_labels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)
        self.out_proj = nn.Linear(c.hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0, :])  # the <s> token
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


class XLMRobertaForSequenceClassification(nn.Module):
    def __init__(self, c: XLMRConfig, num_labels: int = 1) -> None:
        super().__init__()
        self.config = c
        self.roberta = Roberta(c)
        self.classifier = ClassificationHead(c, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.roberta(input_ids, attention_mask))
