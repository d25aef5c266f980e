"""Frame embeddings: backends (backends.py), sidecar storage and the accessor (store.py), PCA with whitening
(pca.py) and YouTube-8M's 8-bit quantization (quantize.py). Nothing here imports torch or onnxruntime until a
backend's setup() runs."""
