"""dj-analyze's two halves: the stats pass (a recipe run in stats-only mode) and the analysis of its files.

The stats pass runs the recipe through the normal runner with `stats_only=True` (same caching, np and
error isolation as dj-process; filters compute stats and drop nothing). Its files go to
`<work_dir>/analysis/`, never over a dj-process run's own files: `<export base>.jsonl` (every analysed
sample), `<export base>_stats.jsonl`, `<export base>_errors.jsonl`, `<export base>_op_summary.json`. The
analysis then reads those files back, exactly as `dj-analyze --stats` does, so both give the same tables.

Where djlite differs from Data-Juicer's analyzer: mappers that come before a filter run too, because in
dj-process the filter sees their output (Data-Juicer runs only filters and tagging ops); deduplicators are
left out, as in Data-Juicer, since they decide across samples; ops after the last filter cannot change any
stat and are left out.
"""

import csv
import dataclasses
import os
import re
from dataclasses import dataclass, field

from loguru import logger
from tqdm.auto import tqdm

from djlite.analysis.overall import (
    collect_values,
    markdown_table,
    overall_markdown,
    overall_notes,
    stat_names,
    summarize,
    write_overall_csv,
)
from djlite.analysis.report import StatSection, render_report
from djlite.analysis.stats_file import RunRecords, load_run_records
from djlite.analysis.thresholds import recipe_bounds
from djlite.analysis.whatif import WHATIF_COLUMNS, StepCounts, what_if, whatif_row
from djlite.errors import RecipeError, VideoError
from djlite.fields import Fields
from djlite.files import atomic_path
from djlite.ops.base import DatasetStep, Deduplicator, Filter

ANALYSIS_DIR = "analysis"
ERRORS_SHOWN = 30


@dataclass
class AnalysisResult:
    out_dir: str
    records: RunRecords
    overall: list[dict]
    steps: list[StepCounts]
    files: dict[str, str] = field(default_factory=dict)  # what was written: name -> path

    kept_label: str = "kept by the recipe"  # what kept_in_sequence counts (see kept_label below)

    @property
    def kept_in_sequence(self) -> int | None:
        """How many samples the recipe's filters keep, when the recipe is known (`kept_label` says which steps)."""
        return self.steps[-1].seq_kept if self.steps else None


def kept_label(ops: list) -> str:
    """What the kept count of the what-if sequence covers. Deduplicators and selectors decide across samples:
    dj-analyze does not run them, so where the recipe has some, its count is the filters' (dj-process's can be
    lower), and the label names them."""
    uncounted = [op for op in ops if isinstance(op, DatasetStep)]
    if not uncounted:
        return "kept by the recipe"
    kinds = "deduplicators" if all(isinstance(op, Deduplicator) for op in uncounted) else "dataset-level steps"
    return f"kept by the filters ({kinds} not counted: {', '.join(dict.fromkeys(op.name for op in uncounted))})"


def stats_pass_ops(ops: list) -> list[tuple[int, object]]:
    """(recipe step, op) for the ops a stats pass runs: up to the last filter, without deduplicators."""
    last_filter = max((i for i, op in enumerate(ops) if isinstance(op, Filter)), default=-1)
    return [(i, op) for i, op in enumerate(ops[: last_filter + 1]) if not isinstance(op, Deduplicator)]


def run_stats_pass(recipe, out_dir: str):
    """Run the recipe in stats-only mode with its outputs in out_dir; returns djlite.api.RunResult."""
    from djlite.api import run

    selected = stats_pass_ops(recipe.ops)
    if not any(isinstance(op, Filter) for _, op in selected):
        raise RecipeError(f"{recipe.source}: no filter in process, so no stats to analyse")
    skipped = [op.name for op in recipe.ops if isinstance(op, Deduplicator)]
    if skipped:
        logger.info(f"stats pass leaves out the deduplicators {skipped}: they decide across samples, not on stats")
    base = os.path.splitext(os.path.basename(recipe.export_path))[0]
    analysis_recipe = dataclasses.replace(
        recipe,
        ops=[op for _, op in selected],
        export_path=os.path.join(out_dir, base + ".jsonl"),
        export_type=None,
        export_shard_size=0,
        work_dir=out_dir,
        export_filtered=False,  # a stats pass removes nothing
        open_tracer=False,
    )
    return run(analysis_recipe, stats_only=True)


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def _write_text(text: str, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def _write_whatif_csv(steps: list[StepCounts], path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(WHATIF_COLUMNS)
        for s in steps:
            writer.writerow(whatif_row(s))


def _whatif_markdown(steps: list[StepCounts], analysed: int) -> str:
    lines = [
        "",
        "# What the recipe's thresholds would do",
        "",
        f"Over {analysed} analysed samples plus the errored ones. alone: the step by itself; unknown: an earlier"
        " step failed on the sample. seq: the steps in recipe order, as dj-process runs them.",
        "",
        markdown_table(list(WHATIF_COLUMNS), [whatif_row(s) for s in steps]),
        "",
    ]
    lines += [f"- {n}" for n in dict.fromkeys(n for s in steps for n in s.notes)]
    return "\n".join(lines) + "\n"


def _sequence(recipe_ops: list, records: RunRecords, on_error: str) -> list[StepCounts]:
    """What-if counts numbered by recipe step, with a row for each deduplicator among the filters."""
    selected = stats_pass_ops(recipe_ops)
    run_steps = [(i, op) for i, (_, op) in enumerate(selected)]
    counts = what_if(run_steps, records.rows + records.errored, on_error)
    for c, (recipe_step, _) in zip(counts, selected):
        c.step = recipe_step
    for step, op in enumerate(recipe_ops):
        if isinstance(op, Deduplicator):
            before = [c for c in counts if c.step < step]
            reaching = before[-1].seq_kept if before else len(records.rows) + len(records.errored)
            row = StepCounts(step=step, op=op.name, thresholds="", kind="deduplicator", simulated=False)
            row.seq_in = row.seq_kept = reaching
            row.notes.append(
                f"step {step} {op.name} is not run by dj-analyze (it decides across samples): the seq counts from "
                "there on are upper bounds"
            )
            counts.insert(len(before), row)
    return counts


def _error_lines(records: RunRecords) -> list[str]:
    lines = []
    for sample in records.load_errors + records.errored + [r for r in records.rows if r.get(Fields.errors)]:
        for entry in sample.get(Fields.errors) or []:
            step = entry.get("step")
            where = f"step {step} {entry.get('op')}" if step is not None else str(entry.get("op"))
            lines.append(f"{where}: {entry.get('error')}")
    if len(lines) > ERRORS_SHOWN:
        lines = lines[:ERRORS_SHOWN] + [f"... and {len(lines) - ERRORS_SHOWN} more (see the errors file)"]
    return lines


def _thumbnails(sections: list[StatSection], examples: dict, videos: list[list[str]]) -> None:
    from djlite.analysis.thumbnails import middle_frame_jpeg, video_for

    paths = {video_for(e, videos) for picks in examples.values() for e in picks} - {None}
    made: dict[str, object] = {}
    for path in tqdm(sorted(paths), desc="thumbnails", unit="video"):
        try:
            made[path] = middle_frame_jpeg(path)
        except VideoError as e:
            made[path] = f"no thumbnail: {e}"
    for section in sections:
        for example in examples.get(section.name, []):
            path = video_for(example, videos)
            section.examples.append((example, path, made.get(path, "no video path for this sample")))


def analyze_records(
    records: RunRecords,
    out_dir: str,
    recipe=None,
    title: str = "dj-analyze report",
    thumbnails: bool = True,
    run_summary: dict | None = None,
) -> AnalysisResult:
    """Write overall.csv/.md, whatif.csv, the plots and report.html for a run's records.

    `run_summary` (the run's op_summary) adds what split mappers did: the clips they made, per op in / out.
    """
    from djlite.analysis.plots import draw_box, draw_histogram, require_matplotlib
    from djlite.analysis.thumbnails import pick_examples

    require_matplotlib()
    os.makedirs(out_dir, exist_ok=True)
    ops = list(recipe.ops) if recipe is not None else []
    selected = stats_pass_ops(ops)
    declared = [key for _, op in selected if isinstance(op, Filter) for key in op.stats_keys]
    values = {name: collect_values(records, name) for name in stat_names(records, declared)}
    # A key with no number at all (a tag) has nothing to summarise, unless the recipe's filters declare it.
    names = [name for name in values if name in declared or values[name].values.size]
    table = [summarize(values[name]) for name in names]
    steps = _sequence(ops, records, recipe.on_error) if recipe is not None else []
    bounds = recipe_bounds(selected)
    result = AnalysisResult(out_dir=out_dir, records=records, overall=table, steps=steps, kept_label=kept_label(ops))

    files = result.files
    files["overall.csv"] = os.path.join(out_dir, "overall.csv")
    write_overall_csv(table, files["overall.csv"])
    markdown = overall_markdown(table, records) + (_whatif_markdown(steps, len(records.rows)) if steps else "")
    files["overall.md"] = os.path.join(out_dir, "overall.md")
    _write_text(markdown, files["overall.md"])
    if steps:
        files["whatif.csv"] = os.path.join(out_dir, "whatif.csv")
        _write_whatif_csv(steps, files["whatif.csv"])

    sections, examples = [], {}
    for name, summary in zip(names, table):
        stat = values[name]
        stat_bounds = bounds.get(name, [])
        plots = []
        for kind, draw in (("hist", draw_histogram), ("box", draw_box)):
            path = os.path.join(out_dir, f"{_safe_name(name)}-{kind}.png")
            draw(stat.values, stat_bounds, name, path)
            files[os.path.basename(path)] = path
            with open(path, "rb") as f:
                plots.append(f.read())
        bounded_steps = {b.step for b in stat_bounds}
        sections.append(StatSection(name, summary, stat_bounds, plots, [s for s in steps if s.step in bounded_steps]))
        examples[name] = pick_examples(stat, stat_bounds)

    note = ""
    if thumbnails and records.videos is not None:
        _thumbnails(sections, examples, records.videos)
    elif thumbnails:
        note = (
            "No thumbnails: the stats file has no video paths. Give the result file of the same run with "
            "--dataset <export base>.jsonl to see the videos."
        )
    counts = {"analysed samples": len(records.rows), "errored samples": records.errored_count}
    if steps:
        counts[result.kept_label] = steps[-1].seq_kept
        counts["removed by filters"] = sum(s.seq_filtered for s in steps)
    for op in (run_summary or {}).get("ops", []):
        if op.get("created") or op.get("consumed"):
            counts[f"step {op['step']} {op['op']}: in / out"] = f"{op['input']} / {op['kept']}"
            counts[f"step {op['step']} {op['op']}: new samples (clips) / originals replaced"] = (
                f"{op['created']} / {op['consumed']}"
            )
    html = render_report(
        title,
        records.source,
        counts,
        table,
        steps,
        sections,
        _error_lines(records),
        note,
        overall_notes(table, records),
        extra_sections=_selection_section(out_dir, records, recipe),
    )
    files["report.html"] = os.path.join(out_dir, "report.html")
    _write_text(html, files["report.html"])
    logger.info(f"analysis written to {out_dir}: {', '.join(sorted(files))}")
    return result


def _selection_section(out_dir: str, records, recipe) -> list[str]:
    """dj-analyze's section for a diversity_selector's selection report, when the run wrote one."""
    from djlite.select.report import find_report, html_section

    folders = [out_dir, os.path.dirname(out_dir), os.path.dirname(os.path.abspath(records.source))]
    if recipe is not None:
        folders.append(recipe.work_dir)
    found = find_report(folders)
    return [html_section(found)] if found else []


def analyze_recipe(recipe, thumbnails: bool = True) -> AnalysisResult:
    """Stats pass of `recipe` into <work_dir>/analysis/, then the analysis of what it wrote."""
    from djlite.analysis.plots import require_matplotlib

    require_matplotlib()  # before the stats pass, not after minutes of it
    out_dir = os.path.join(recipe.work_dir, ANALYSIS_DIR)
    run_result = run_stats_pass(recipe, out_dir)
    if run_result.stats_path is None:
        raise RecipeError(f"{recipe.source}: the stats pass wrote no stats file")
    records = load_run_records(
        run_result.stats_path,
        dataset_path=run_result.result_paths[0] if thumbnails else None,
        video_key=recipe.video_key,
    )
    result = analyze_records(
        records,
        out_dir,
        recipe,
        title=f"dj-analyze: {recipe.project_name}",
        thumbnails=thumbnails,
        run_summary=run_result.summary,
    )
    result.files["stats"] = run_result.stats_path
    return result
