"""Okapi BM25 over character bigrams: a Korean-friendly first stage with no morphological analyser.

One implementation serves the model tools and the fine-tuning trainer: it lives in scripts/train/korerank_train/bm25.py
so that scripts/train stays a self-contained SageMaker source_dir, and is imported from there."""

from scripts.train.korerank_train.bm25 import BM25, char_bigrams

__all__ = ["BM25", "char_bigrams"]
