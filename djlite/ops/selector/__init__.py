"""Selectors: dataset-level steps, one op per file.

Data-Juicer's four field selectors, diversity_selector (coreset on embeddings) and video_embedding_pca.
"""
