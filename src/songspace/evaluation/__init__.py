"""Evaluation of track embeddings: every metric of both papers (SPEC §4)."""
