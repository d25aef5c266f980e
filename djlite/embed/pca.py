"""PCA with whitening, as YouTube-8M reduces Inception's 2048-d frame features to 1024-d.

    whitened = (x - mean) . E[:, :k] / sqrt(eigenvals[:k] + eps)        eps = 1e-4

Fitting streams: `PcaFitter.add(vectors)` accumulates the sum and the outer-product sum in float64 (memory
O(d^2), whatever the number of frames), and `fit()` eigen-decomposes the population covariance (divided by
n), so that on the fitting data each whitened dimension has mean 0 and variance eigenval / (eigenval + eps)
exactly, up to float rounding.

Files (`save`/`load`) use YouTube-8M's published layout (`yt8m_pca.tgz`), so its own files load here and ours
load in its code: `mean.npy` of shape (d, 1), `eigenvals.npy` (k, 1), `eigenvecs.npy` (k, d), one
eigenvector per row (transposed at load). Arrays are float32; loading and saving again gives the same bytes.
"""

import os
from dataclasses import dataclass

import numpy as np
from loguru import logger

EPSILON = 1e-4
FILES = ("mean.npy", "eigenvecs.npy", "eigenvals.npy")


@dataclass
class Pca:
    mean: np.ndarray  # (d,) float32
    eigenvecs: np.ndarray  # (d, k) float32, one component per column, by decreasing eigenvalue
    eigenvals: np.ndarray  # (k,) float32
    eps: float = EPSILON
    frames: int | None = None  # how many vectors it was fitted on (None when loaded)

    @property
    def n_components(self) -> int:
        return self.eigenvecs.shape[1]

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def transform(self, vectors) -> np.ndarray:
        """(n, d) -> (n, k) float32 whitened PCA features."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"PCA was fitted on {self.dim}-d vectors, got shape {x.shape}")
        scale = 1.0 / np.sqrt(self.eigenvals.astype(np.float64) + self.eps)
        return (((x - self.mean) @ self.eigenvecs).astype(np.float64) * scale).astype(np.float32)

    def save(self, folder: str) -> list[str]:
        """mean.npy, eigenvecs.npy, eigenvals.npy in YouTube-8M's layout; each written to a temp name, renamed."""
        os.makedirs(folder, exist_ok=True)
        arrays = {
            "mean.npy": self.mean.reshape(-1, 1),
            "eigenvecs.npy": np.ascontiguousarray(self.eigenvecs.T),
            "eigenvals.npy": self.eigenvals.reshape(-1, 1),
        }
        paths = []
        for name, array in arrays.items():
            path = os.path.join(folder, name)
            tmp = f"{path}.tmp-{os.getpid()}.npy"
            np.save(tmp, np.asarray(array, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
            paths.append(path)
        return paths

    @classmethod
    def load(cls, folder: str, n_components: int | None = None, eps: float = EPSILON) -> "Pca":
        """From `folder`'s mean/eigenvecs/eigenvals.npy (ours, or YouTube-8M's); the first n_components."""
        missing = [name for name in FILES if not os.path.isfile(os.path.join(folder, name))]
        if missing:
            raise FileNotFoundError(
                f"PCA folder {folder!r} lacks {', '.join(missing)}: point pca_dir at a folder with mean.npy, "
                f"eigenvecs.npy and eigenvals.npy (written by an earlier run, or YouTube-8M's yt8m_pca.tgz)"
            )
        mean = np.load(os.path.join(folder, "mean.npy"), allow_pickle=False)
        vecs = np.load(os.path.join(folder, "eigenvecs.npy"), allow_pickle=False)
        vals = np.load(os.path.join(folder, "eigenvals.npy"), allow_pickle=False)
        mean = mean[:, 0] if mean.ndim == 2 else mean
        vals = vals[:, 0] if vals.ndim == 2 else vals
        if vecs.ndim != 2 or vecs.shape[1] != mean.shape[0] or vecs.shape[0] != vals.shape[0]:
            raise ValueError(
                f"PCA folder {folder!r}: eigenvecs.npy {vecs.shape} must be (components, {mean.shape[0]}) "
                f"with one eigenvalue per component (eigenvals.npy has {vals.shape[0]})"
            )
        k = vals.shape[0] if n_components is None else n_components
        if k > vals.shape[0]:
            raise ValueError(f"PCA folder {folder!r} holds {vals.shape[0]} components, {k} asked for")
        return cls(
            mean=mean.astype(np.float32),
            eigenvecs=np.ascontiguousarray(vecs[:k].T, dtype=np.float32),
            eigenvals=vals[:k].astype(np.float32),
            eps=eps,
        )


class PcaFitter:
    """Accumulates vectors (any number of `add` calls), then fits."""

    def __init__(self):
        self.n = 0
        self.total = None
        self.outer = None

    def add(self, vectors) -> None:
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            return
        if self.total is None:
            self.total = np.zeros(x.shape[1])
            self.outer = np.zeros((x.shape[1], x.shape[1]))
        elif x.shape[1] != self.total.shape[0]:
            raise ValueError(f"PCA input mixes {self.total.shape[0]}-d and {x.shape[1]}-d vectors")
        self.n += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    def fit(self, n_components: int = 1024, eps: float = EPSILON) -> Pca:
        """The top components; with too few vectors, as many as they support (n - 1), with a warning."""
        if self.n < 2:
            raise ValueError(f"PCA needs at least 2 frame vectors, got {self.n}")
        d = self.total.shape[0]
        mean = self.total / self.n
        covariance = self.outer / self.n - np.outer(mean, mean)
        values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
        order = np.argsort(values)[::-1]
        supported = min(d, self.n - 1)
        k = min(n_components, supported)
        if k < n_components:
            logger.warning(
                f"PCA: {self.n} frame vectors of dimension {d} support {supported} components; "
                f"fitting {k} instead of the {n_components} asked for"
            )
        keep = order[:k]
        # A sign convention makes the fit reproducible: each component's largest-magnitude entry is positive.
        components = vectors[:, keep]
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(k)])
        components = components * np.where(signs == 0, 1, signs)
        return Pca(
            mean=mean.astype(np.float32),
            eigenvecs=np.ascontiguousarray(components, dtype=np.float32),
            eigenvals=np.clip(values[keep], 0, None).astype(np.float32),
            eps=eps,
            frames=self.n,
        )


def fit_pca(vectors, n_components: int = 1024, eps: float = EPSILON) -> Pca:
    fitter = PcaFitter()
    fitter.add(vectors)
    return fitter.fit(n_components, eps)
