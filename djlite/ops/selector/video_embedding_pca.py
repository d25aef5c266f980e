import os

from loguru import logger

from djlite.embed.pca import EPSILON, Pca, PcaFitter
from djlite.embed.store import read_frame_embeddings
from djlite.ops.base import Selection, Selector
from djlite.registry import register_op
from djlite.run_paths import pca_dir


@register_op("video_embedding_pca")
class VideoEmbeddingPca(Selector):
    """Fit PCA with whitening over every frame embedding of the dataset (YouTube-8M's reduction); keeps every row.

    A dataset-level step: its table is the `frame_embedding_key` column (the sidecar paths written by
    `video_frame_embedding_mapper`), its vectors are read through the sidecar accessor, streamed into a
    covariance accumulator (memory O(dim^2), whatever the number of frames). It fits `n_components` (1024, as
    YouTube-8M; fewer when the frames support fewer, with a warning saying so) and writes `mean.npy`,
    `eigenvecs.npy` and `eigenvals.npy` in YouTube-8M's layout to `pca_output_dir` (default `<work_dir>/pca`),
    where `export_type: yt8m` and later runs find them: whitened = (x - mean) . E / sqrt(eigenvals + eps).

    With `pca_dir` (an earlier run's folder, or YouTube-8M's published `yt8m_pca` files for Inception
    features) nothing is fitted: the files are checked against the embeddings' dimension and their first
    `n_components` written to the output folder, so the export always reads one place. The step never drops
    or changes a row.
    """

    def __init__(
        self,
        n_components: int = 1024,
        eps: float = EPSILON,
        pca_dir: str | None = None,
        pca_output_dir: str | None = None,
        frame_embedding_key: str = "video_frame_embeddings",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if pca_dir is not None:
            try:
                Pca.load(pca_dir, eps=eps)  # a missing or malformed file fails here, before any data is read
            except OSError as e:
                raise ValueError(str(e)) from None
        self.n_components = n_components
        self.eps = eps
        self.pca_dir = os.path.abspath(pca_dir) if pca_dir else None
        self.pca_output_dir = os.path.abspath(pca_output_dir) if pca_output_dir else None
        self.frame_embedding_key = frame_embedding_key
        self.fitted: Pca | None = None

    @property
    def input_columns(self) -> list[str]:
        return [self.frame_embedding_key]

    def output_dir(self) -> str:
        folder = self.pca_output_dir or (pca_dir(self.work_dir) if self.work_dir else None)
        if folder is None:
            raise ValueError("pca_output_dir is not set (a recipe defaults it to <work_dir>/pca)")
        return folder

    def fit(self, refs) -> Pca:
        """PCA over the frame embeddings of every sidecar path in `refs` (each path once)."""
        fitter = PcaFitter()
        for ref in dict.fromkeys(refs):
            fitter.add(read_frame_embeddings(ref).vectors)
        if fitter.n < 2:
            raise ValueError(
                f"{self.name}: {fitter.n} frame embeddings in the dataset; PCA needs at least 2 "
                f"(run video_frame_embedding_mapper first)"
            )
        return fitter.fit(self.n_components, self.eps)

    def select(self, table, show_num: int = 0) -> Selection:
        refs = [ref for row in table.column(self.frame_embedding_key).to_pylist() for ref in (row or []) if ref]
        if self.pca_dir:
            pca = Pca.load(self.pca_dir, n_components=None, eps=self.eps)
            if refs and (dim := read_frame_embeddings(refs[0]).vectors.shape[1]) != pca.dim:
                raise ValueError(f"{self.name}: pca_dir {self.pca_dir!r} holds {pca.dim}-d PCA, embeddings are {dim}-d")
            pca = Pca(pca.mean, pca.eigenvecs[:, : self.n_components], pca.eigenvals[: self.n_components], self.eps)
        else:
            pca = self.fit(refs)
            logger.info(f"{self.name}: fitted {pca.n_components} components on {pca.frames} frame embeddings")
        pca.save(self.output_dir())
        self.fitted = pca
        return Selection(kept=list(range(table.num_rows)))
