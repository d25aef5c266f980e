"""dj-analyze: tables against numpy, what-if counts against dj-process, --stats without decoding, bad stats
files, auto mode, and the report rendered in a real headless Chromium."""

import csv
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from djlite.analysis.thresholds import bound_params, threshold_text
from djlite.api import run
from djlite.cli.analyze import main
from djlite.fields import Fields
from djlite.ops.base import Filter
from djlite.recipe import build_op

CLIP_PROCESS = [
    {"video_duration_filter": {"min_duration": 1.0}},
    {"video_resolution_filter": {"min_width": 200}},
    {"video_aspect_ratio_filter": {"min_ratio": "1/1", "max_ratio": "16/9"}},
]
CORPUS_PROCESS = [
    {"video_duration_filter": {"min_duration": 1.0, "max_duration": 30}},
    {"video_resolution_filter": {"min_width": 256, "min_height": 200}},
    {"video_aspect_ratio_filter": {"min_ratio": "4/3", "max_ratio": "21/9"}},
]
OVERALL_STATS = ("count", "mean", "std", "min", "p10", "p25", "p50", "p75", "p90", "max")


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def write_recipe(path: Path, dataset: Path, export: Path, process, **extra) -> Path:
    recipe = {"project_name": path.stem, "dataset_path": str(dataset), "export_path": str(export), "np": 1}
    recipe.update(extra, process=process)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def clip_rows(clips: dict[str, str]) -> list:
    """One sample per generated clip (the broken one included), a two-video sample and a line that is not JSON."""
    rows = [{"text": name, "videos": [path]} for name, path in clips.items()]
    rows.append({"text": "pair", "videos": [clips["moving"], clips["text"]]})
    rows.append("this line is not JSON")
    return rows


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def numpy_overall(stats_path) -> dict[str, dict]:
    """The overall table computed independently from the stats file: explode lists, then numpy."""
    values: dict[str, list[float]] = {}
    with open(stats_path, encoding="utf-8") as f:
        for line in f:
            for key, value in json.loads(line)[Fields.stats].items():
                items = value if isinstance(value, list) else [value]
                values.setdefault(key, []).extend(float(v) for v in items if v is not None)
    out = {}
    for key, items in values.items():
        v = np.array(items)
        p10, p25, p50, p75, p90 = np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9], method="linear")
        out[key] = dict(
            count=len(v), mean=v.mean(), std=np.std(v, ddof=1), min=v.min(),
            p10=p10, p25=p25, p50=p50, p75=p75, p90=p90, max=v.max(),
        )  # fmt: skip
    return out


def assert_overall_matches_numpy(analysis: Path, stats_path) -> None:
    table = {row["stat"]: row for row in read_csv(analysis / "overall.csv")}
    expected = numpy_overall(stats_path)
    assert set(table) == set(expected)
    for stat, want in expected.items():
        for column in OVERALL_STATS:
            assert float(table[stat][column]) == pytest.approx(want[column], rel=1e-12, abs=1e-12), (stat, column)


def assert_whatif_equals_dj_process(analysis: Path, recipe_path: Path, tmp_path: Path) -> dict:
    """Run dj-process on the same recipe and compare its per-op accounting with the in-sequence counts."""
    result = run(str(recipe_path), export_path=str(tmp_path / "processed" / "res.jsonl"))
    whatif = read_csv(analysis / "whatif.csv")
    from djlite.ops.base import Deduplicator
    from djlite.registry import get_op

    assert [row["op"] for row in whatif] == [op["op"] for op in result.summary["ops"]]
    for row, op in zip(whatif, result.summary["ops"]):
        if issubclass(get_op(row["op"]), Deduplicator):
            # dj-analyze does not simulate deduplication (it decides across samples, not from stats): the counts
            # are exact up to the first deduplicator and upper bounds after it.
            assert int(row["seq_in"]) == op["input"], row
            return result.summary
        assert int(row["seq_in"]) == op["input"], row
        assert int(row["seq_kept"]) == op["kept"], row
        assert int(row["seq_filtered"]) == op["filtered"], row
        assert int(row["seq_errors"]) == op["errors"], row
    assert int(whatif[-1]["seq_kept"]) == result.summary["kept"] == len(result.dataset)
    return result.summary


@pytest.fixture(scope="module")
def clip_analysis(clips, tmp_path_factory):
    """dj-analyze --config over the generated clips; (analysis folder, recipe path, work folder)."""
    work = tmp_path_factory.mktemp("analyze_clips")
    dataset = write_jsonl(work / "data.jsonl", clip_rows(clips))
    recipe = write_recipe(work / "recipe.yaml", dataset, work / "out" / "res.jsonl", CLIP_PROCESS)
    assert main(["--config", str(recipe)]) == 0
    return work / "out" / "analysis", recipe, work


def test_clips_outputs_match_numpy_and_dj_process(clip_analysis, tmp_path):
    analysis, recipe, _ = clip_analysis
    stats_path = analysis / "res_stats.jsonl"
    for name in ("overall.csv", "overall.md", "whatif.csv", "report.html", "res_errors.jsonl", "res.jsonl"):
        assert (analysis / name).is_file(), name
    for op in CLIP_PROCESS:
        for stat in build_op(next(iter(op)), {}).stats_keys:
            for kind in ("hist", "box"):
                png = cv2.imread(str(analysis / f"{stat}-{kind}.png"))
                assert png is not None and png.shape[1] >= 400, (stat, kind)

    # 8 lines: 6 clips + the pair analysed; the broken clip and the non-JSON line errored.
    assert sum(1 for _ in open(stats_path)) == 6
    assert_overall_matches_numpy(analysis, stats_path)
    table = {row["stat"]: row for row in read_csv(analysis / "overall.csv")}
    assert table["video_duration"]["count"] == "7"  # the pair contributes both of its videos
    assert table["video_duration"]["samples"] == "6"
    assert table["video_duration"]["errored_samples"] == "2"
    assert "errored samples (dropped by an error, not analysed): 2" in (analysis / "overall.md").read_text()

    summary = assert_whatif_equals_dj_process(analysis, recipe, tmp_path)
    assert summary["filtered"] > 0 and summary["errored"] == 2  # the thresholds really drop something
    duration = read_csv(analysis / "whatif.csv")[0]
    assert (duration["alone_kept"], duration["alone_dropped"], duration["alone_errors"]) == ("5", "1", "1")


def test_whatif_follows_on_error_keep(clips, tmp_path):
    dataset = write_jsonl(tmp_path / "data.jsonl", clip_rows(clips))
    recipe = write_recipe(
        tmp_path / "keep.yaml", dataset, tmp_path / "out" / "res.jsonl", CLIP_PROCESS, on_error="keep"
    )
    assert main(["--config", str(recipe), "--no_thumbnails"]) == 0
    analysis = tmp_path / "out" / "analysis"
    summary = assert_whatif_equals_dj_process(analysis, recipe, tmp_path)
    assert summary["ops"][0]["errors"] == 1  # the broken clip fails and is kept, as on_error: keep says
    assert "kept despite an error (on_error: keep): 1" in (analysis / "overall.md").read_text()


def test_corpus_outputs_match_numpy_and_dj_process(corpus_videos, tmp_path):
    files = sorted(p for p in corpus_videos.iterdir() if p.name != "MANIFEST.tsv")
    rows = [{"text": p.name, "videos": [str(p)]} for p in files]
    rows.append({"text": "two videos", "videos": [str(files[0]), str(files[-1])]})
    dataset = write_jsonl(tmp_path / "corpus.jsonl", rows)
    recipe = write_recipe(tmp_path / "corpus.yaml", dataset, tmp_path / "out" / "res.jsonl", CORPUS_PROCESS)
    assert main(["--config", str(recipe)]) == 0
    analysis = tmp_path / "out" / "analysis"
    assert_overall_matches_numpy(analysis, analysis / "res_stats.jsonl")
    summary = assert_whatif_equals_dj_process(analysis, recipe, tmp_path)
    assert 0 < summary["kept"] < len(rows)
    assert all(op["filtered"] > 0 for op in summary["ops"]), summary["ops"]  # each threshold removes something
    report = (analysis / "report.html").read_text()
    assert report.count("data:image/jpeg;base64,") >= 20  # thumbnails of real corpus videos
    assert "no thumbnail" not in report


def test_stats_mode_gives_the_same_tables_without_decoding(clips, tmp_path):
    # Videos copied, analysed, then deleted: a --stats run that opened any of them would have to fail.
    media = tmp_path / "media"
    media.mkdir()
    copies = {name: str(shutil.copy(path, media / Path(path).name)) for name, path in clips.items()}
    dataset = write_jsonl(tmp_path / "data.jsonl", clip_rows(copies))
    recipe = write_recipe(tmp_path / "recipe.yaml", dataset, tmp_path / "out" / "res.jsonl", CLIP_PROCESS)
    assert main(["--config", str(recipe)]) == 0
    first = tmp_path / "out" / "analysis"
    shutil.rmtree(media)

    stats = str(first / "res_stats.jsonl")
    assert main(["--stats", stats, "--config", str(recipe), "--work_dir", str(tmp_path / "again")]) == 0
    again = tmp_path / "again" / "analysis"
    assert (again / "overall.csv").read_bytes() == (first / "overall.csv").read_bytes()
    assert (again / "whatif.csv").read_bytes() == (first / "whatif.csv").read_bytes()
    report = (again / "report.html").read_text()
    assert "data:image/jpeg" not in report and "--dataset" in report  # says how to get thumbnails

    # Without a recipe: the same distribution table, no what-if; by default next to the stats file.
    assert main(["--stats", stats]) == 0
    assert (first / "overall.csv").read_bytes() == (again / "overall.csv").read_bytes()


def test_stats_mode_with_dataset_shows_thumbnails(clip_analysis, tmp_path):
    analysis, recipe, _ = clip_analysis
    args = ["--stats", str(analysis / "res_stats.jsonl"), "--dataset", str(analysis / "res.jsonl")]
    assert main(args + ["--config", str(recipe), "--work_dir", str(tmp_path)]) == 0
    report = (tmp_path / "analysis" / "report.html").read_text()
    assert report.count("data:image/jpeg;base64,") >= 5
    # The 0.5 s clip sits just below min_duration=1 and is shown as removed by it.
    section = report[report.index("Either side of min_duration=1 (step 0)") :]
    assert "short.mp4" in section[: section.index("</div>")]
    assert '<span class="removed">removed</span>' in report

    # A dataset that is not the result file of the same run is refused, not mismatched.
    other = write_jsonl(tmp_path / "other.jsonl", [{"videos": ["a.mp4"]}])
    assert main(["--stats", str(analysis / "res_stats.jsonl"), "--dataset", str(other)]) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("just some text\n", "not JSON"),
        ('{"text": "a", "videos": ["a.mp4"]}\n', "not a stats file"),
        ("[1, 2]\n", "JSON object"),
        ('{"__dj__stats__": [1, 2]}\n', "must be a JSON object"),
    ],
)
def test_not_a_stats_file_is_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "x_stats.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["--stats", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dj-analyze: error:") and message in err[0], err
    assert str(path) in err[0]
    assert not (tmp_path / "analysis" / "report.html").exists()


def test_auto_mode_runs_default_video_filters_on_first_samples(clips, tmp_path, monkeypatch):
    # Relative video paths, and a working directory elsewhere: the sample copy must still find the videos.
    data_dir = tmp_path / "data"
    shutil.copytree(os.path.dirname(clips["moving"]), data_dir / "clips")
    names = ["moving", "static", "text", "short", "moving_reencoded"]
    dataset = write_jsonl(data_dir / "d.jsonl", [{"videos": [f"clips/{n}.mp4"]} for n in names])
    monkeypatch.chdir(tmp_path)
    assert main(["--auto", "--dataset_path", str(dataset), "--auto_num", "3", "--np", "1"]) == 0
    analysis = tmp_path / "outputs" / "d" / "analysis"
    rows = [json.loads(line) for line in open(analysis / "auto_stats.jsonl")]
    assert len(rows) == 3
    expected = {key for name in ("video_duration_filter", "video_resolution_filter", "video_aspect_ratio_filter")
                for key in build_op(name, {}).stats_keys}  # fmt: skip
    assert expected <= set(rows[0][Fields.stats])
    assert all(row[Fields.stats]["video_duration"][0] > 0 for row in rows)
    assert not [line for line in open(analysis / "auto_errors.jsonl")]
    assert (analysis / "report.html").is_file()


def test_bad_command_lines_exit_2(tmp_path, capsys):
    assert main([]) == 2
    assert "give one of --config, --stats or --auto" in capsys.readouterr().err
    assert main(["--auto"]) == 2
    assert capsys.readouterr().err.strip() == "dj-analyze: error: --auto needs --dataset_path"
    recipe = write_recipe(tmp_path / "r.yaml", write_jsonl(tmp_path / "d.jsonl", []), tmp_path / "o.jsonl", [])
    assert main(["--config", str(recipe)]) == 2
    assert "no filter" in capsys.readouterr().err


def test_thresholds_are_found_from_parameter_names_or_declared():
    bounds = bound_params(build_op("video_resolution_filter", {"min_width": 10}))
    assert bounds == {"video_width": ("min_width", "max_width"), "video_height": ("min_height", "max_height")}
    assert bound_params(build_op("video_duration_filter", {})) == {"video_duration": ("min_duration", "max_duration")}
    assert bound_params(build_op("video_aspect_ratio_filter", {})) == {
        "video_aspect_ratios": ("min_ratio", "max_ratio")
    }

    class SharpnessFilter(Filter):  # names that do not say which stat they bound: declared instead
        stats_features = {"video_sharpness": None}
        stats_bounds = {"video_sharpness": ("lowest", None)}

        def __init__(self, lowest: float = 3.0, **kwargs):
            super().__init__(**kwargs)
            self.lowest = lowest

    assert bound_params(SharpnessFilter()) == {"video_sharpness": ("lowest", None)}


# --- the report in a real browser -------------------------------------------------------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (NUL-separated JSON on fds 3/4)."""

    def __init__(self, binary: str, profile: str):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds():  # in the child: the browser reads commands on fd 3 and writes replies on fd 4
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)  # neither is 3 and 4 clobbered
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            [binary, *flags],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,
            close_fds=False,  # our own pipes are not inheritable (PEP 446); only fds 3 and 4 are passed on
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(clip_analysis):
    analysis, _, _ = clip_analysis
    report = analysis / "report.html"
    with tempfile.TemporaryDirectory(prefix="djlite-chromium-") as profile:
        browser = DevTools(CHROMIUM, profile)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.send(f"{domain}.enable", session=session)
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            browser.send("Page.navigate", {"url": report.as_uri()}, session=session)
            browser.wait_for("Page.loadEventFired")
            checks = browser.send(
                "Runtime.evaluate",
                {
                    "expression": "JSON.stringify({images: document.images.length, "
                    "broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length, "
                    "text: document.body.innerText})",
                    "returnByValue": True,
                },
                session=session,
            )
            page = json.loads(checks["result"]["value"])
            shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
        finally:
            browser.close()

    failed = [e for e in browser.events if e.get("method") in ("Network.loadingFailed", "Runtime.exceptionThrown")]
    console_errors = [
        e
        for e in browser.events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert not failed and not console_errors, failed + console_errors
    assert page["images"] >= 10 + 5 and page["broken"] == 0, page  # 5 stats x (hist + box) + thumbnails
    for text in ("video_duration", "What the recipe's thresholds would do", "min_width=200", "Lowest values"):
        assert text in page["text"], text

    import base64

    png = base64.b64decode(shot["data"])
    (analysis / "report-screenshot.png").write_bytes(png)  # kept beside the report, for a person to look at
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.shape == (1400, 1280)
    assert image.std() > 20  # text, tables and plots, not a blank page
    dark = (image < 100).mean()
    assert 0.005 < dark < 0.5, dark  # dark text on a light page


def test_readme_command_on_the_demo_recipe(tmp_path):
    from conftest import REPO

    recipe = REPO / "recipes" / "demo.yaml"
    assert main(["--config", str(recipe), "--work_dir", str(tmp_path), "--np", "1"]) == 0
    analysis = tmp_path / "analysis"
    assert_overall_matches_numpy(analysis, analysis / "demo_stats.jsonl")
    assert_whatif_equals_dj_process(analysis, recipe, tmp_path)


def test_thumbnail_frame_is_displayed_as_a_player_shows_it(tmp_path, clips):
    from synthetic import make_moving

    from djlite.errors import VideoError
    from djlite.video.thumbnail import middle_frame

    rotated = make_moving(str(tmp_path / "rot90.mp4"), seconds=1, size=(160, 96), rotation=90)
    assert middle_frame(rotated).shape == (160, 96, 3)  # coded 160x96, shown portrait
    assert middle_frame(clips["moving"]).shape == (96, 160, 3)
    with pytest.raises(VideoError, match="broken.mp4"):
        middle_frame(clips["broken"])


def test_thumbnail_after_seek_is_not_garbled(corpus_videos):
    from djlite.video.reader import decode_plan
    from djlite.video.sampling import uniform
    from djlite.video.thumbnail import middle_frame

    # Its seek lands on a frame that decodes green unless the decoder has seen the stream's start.
    path = str(corpus_videos / "imageio__cockatoo.mp4")
    sought = middle_frame(path).astype(int)
    decoded_through = decode_plan(path, uniform(1), strategy="sequential")[0].rgb().astype(int)
    assert np.abs(sought - decoded_through).mean() < 2


def test_thumbnails_of_damaged_files_are_frames_or_errors(bad_videos):
    from djlite.errors import VideoError
    from djlite.video.thumbnail import middle_frame

    # The middle of a truncated file does not decode: the last frame before it stands in.
    assert middle_frame(str(bad_videos / "derived__truncated_30pct_faststart.mp4")).shape == (480, 640, 3)
    for name in ("derived__video_only_no_decodable_frames.mp4", "derived__audio_only.mp4", "derived__zero_bytes.mp4"):
        with pytest.raises(VideoError, match=name):
            middle_frame(str(bad_videos / name))


def test_thresholds_column_shows_every_bound_that_acts():
    """Issue 19 item 15: a bound equal to the op's default (the demo's min_score 0.25, max_ratio 21/9) was left
    out of the thresholds column although the recipe sets it and it drops samples."""
    motion = build_op("video_motion_score_filter", {"min_score": 0.25})
    assert threshold_text(motion) == "min_score=0.25"  # max_score is unbounded (sys.float_info.max)
    assert threshold_text(build_op("video_motion_score_filter", {})) == "min_score=0.25"  # the default acts too
    ratio = build_op("video_aspect_ratio_filter", {"min_ratio": "9/21", "max_ratio": "21/9"})
    assert threshold_text(ratio) == "min_ratio=9/21, max_ratio=21/9"  # as the recipe wrote them
    duration = build_op("video_duration_filter", {"min_duration": 1})
    assert threshold_text(duration) == "min_duration=1"


def test_demo_kept_count_says_the_deduplicators_are_not_counted(tmp_path):
    """Issue 19 item 15: "kept by the recipe: 3" counted without the deduplicators; dj-process keeps 2."""
    from conftest import REPO

    from djlite.analysis.analyzer import analyze_recipe
    from djlite.recipe import load_recipe

    recipe = load_recipe(str(REPO / "recipes" / "demo.yaml"), {"work_dir": str(tmp_path), "np": 1})
    result = analyze_recipe(recipe, thumbnails=False)
    label = "kept by the filters (deduplicators not counted: video_deduplicator, video_near_deduplicator)"
    assert result.kept_label == label and result.kept_in_sequence == 3
    report = (tmp_path / "analysis" / "report.html").read_text()
    assert label in report and "kept by the recipe" not in report
    whatif = {row["op"]: row["thresholds"] for row in read_csv(tmp_path / "analysis" / "whatif.csv")}
    assert whatif["video_motion_score_filter"] == "min_score=0.25"
    assert whatif["video_aspect_ratio_filter"] == "min_ratio=9/21, max_ratio=21/9"
    kept = run(str(REPO / "recipes" / "demo.yaml"), export_path=str(tmp_path / "run" / "demo.jsonl"), np=1)
    assert kept.summary["kept"] == 2  # what dj-process keeps, with the deduplicators


def test_stats_mode_finds_the_runs_summary_under_its_export_name(clips, tmp_path):
    """The summary is <export base>_op_summary.json now (issue 19 item 11): dj-analyze --stats still reads from it
    how many filtered samples its tables miss, and two runs in one folder each get their own count."""
    from djlite.analysis.stats_file import load_run_records

    dataset = write_jsonl(tmp_path / "d.jsonl", [{"text": n, "videos": [clips[n]]} for n in ("moving", "short")])
    counts = {}
    for name, min_duration in (("strict", 1.0), ("loose", 0.0)):
        recipe = write_recipe(tmp_path / f"{name}.yaml", dataset, tmp_path / "out" / f"{name}.jsonl",
                              [{"video_duration_filter": {"min_duration": min_duration}}])  # fmt: skip
        result = run(str(recipe))
        assert result.summary_path == str(tmp_path / "out" / f"{name}_op_summary.json")
        counts[name] = (result.summary["filtered"], load_run_records(result.stats_path).filtered_missing)
    assert counts == {"strict": (1, 1), "loose": (0, 0)}
