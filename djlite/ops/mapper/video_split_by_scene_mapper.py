from djlite.ops.mapper.video_clips import VideoSplitMapper
from djlite.registry import register_op
from djlite.video.clip_writer import Span
from djlite.video.scenes import DETECTORS, SceneCuts, make_detector


@register_op("video_split_by_scene_mapper")
class VideoSplitBySceneMapper(VideoSplitMapper):
    """Split each video at its scene cuts, found as PySceneDetect finds them; one new sample per scene.

    The detector sees every frame of the shared decode (the frame consumer of djlite.video.scenes), so a filter
    before this op in the same stage costs no second decode. `ContentDetector` (the default) is djlite's own
    implementation of PySceneDetect's and gives the same cuts on the same frames; `AdaptiveDetector` and
    `ThresholdDetector` run PySceneDetect's own classes on those frames and need `pip install --no-deps
    scenedetect`. Detector parameters (None: the detector's default) pass to the detector as in Data-Juicer:
    luma_only, weights and kernel_size (ContentDetector; kernel_size only matters with an edge weight, which
    needs PySceneDetect), window_width and min_content_val (AdaptiveDetector), fade_bias and add_final_scene
    (ThresholdDetector).
    Data-Juicer's op replaces the videos of a sample by their scenes, so `keep_original_sample` defaults to false
    here; a video of one scene is not rewritten: its clip sample points at the original file, as in Data-Juicer
    (with keep_original_sample: true it makes nothing new). Scenes are cut at exact frames, so `auto` re-encodes
    unless every cut falls on a keyframe; `copy` moves cuts back to keyframes. `show_progress` is accepted for
    Data-Juicer recipes; progress shows per op in the runner's bar.
    """

    reuses_whole_video = True
    dj_appends_eoc = False

    def __init__(
        self,
        detector: str = "ContentDetector",
        threshold: float = 27.0,
        min_scene_len: int = 15,
        show_progress: bool = False,
        luma_only: bool | None = None,
        weights: list[float] | None = None,
        kernel_size: int | None = None,
        window_width: int | None = None,
        min_content_val: float | None = None,
        fade_bias: float | None = None,
        add_final_scene: bool | None = None,
        keep_original_sample: bool = False,
        **kwargs,
    ):
        given = dict(
            luma_only=luma_only,
            weights=weights,
            kernel_size=kernel_size,
            window_width=window_width,
            min_content_val=min_content_val,
            fade_bias=fade_bias,
            add_final_scene=add_final_scene,
        )
        detector_kwargs = {k: v for k, v in given.items() if v is not None}
        super().__init__(keep_original_sample=keep_original_sample, **kwargs)
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if min_scene_len < 0:
            raise ValueError(f"min_scene_len must be >= 0 frames, got {min_scene_len}")
        self.detector = detector
        self.threshold = threshold
        self.min_scene_len = min_scene_len
        self.show_progress = show_progress
        self.detector_kwargs = detector_kwargs
        make_detector(detector, threshold, min_scene_len, 25.0, detector_kwargs)  # a bad name fails now

    def split_params(self) -> dict:
        return {
            "detector": self.detector,
            "threshold": self.threshold,
            "min_scene_len": self.min_scene_len,
            **self.detector_kwargs,
        }

    def frame_consumer(self, info):
        name, threshold, length, kwargs = self.detector, self.threshold, self.min_scene_len, self.detector_kwargs
        return SceneCuts(lambda: make_detector(name, threshold, length, info.fps, kwargs), info.fps)

    def spans(self, path, context) -> list[Span]:
        scenes = self.frame_result(path, context)
        if len(scenes) <= 1 and self.keep_original_sample:
            return []
        return [Span(start, end) for _, _, start, end in scenes]
