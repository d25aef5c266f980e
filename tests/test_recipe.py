"""Recipes are validated, with one-line errors and exit status 2, before any data is read."""

import pytest
from helpers import dj_process, write_jsonl, write_recipe

from djlite.errors import RecipeError
from djlite.recipe import load_recipe, parse_overrides


@pytest.fixture
def dataset(tmp_path):
    return write_jsonl(tmp_path / "data.jsonl", [{"text": "x", "videos": ["a.mp4"]}])


def recipe_error(tmp_path, dataset, process, **keys) -> str:
    path = write_recipe(tmp_path / "r.yaml", dataset, process, **keys)
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_misspelled_op_exits_2_with_did_you_mean_before_loading_data(tmp_path):
    # The dataset is not even valid JSON: had it been read, the error would be about the data.
    garbage = tmp_path / "data.jsonl"
    garbage.write_text("not json at all\n")
    path = write_recipe(tmp_path / "r.yaml", garbage, [{"video_duraton_filter": {"min_duration": 1}}])
    done = dj_process("--config", str(path))
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip().splitlines()
    assert len(err) == 1
    assert "unknown op 'video_duraton_filter'" in err[0]
    assert "did you mean 'video_duration_filter'?" in err[0]
    assert "video_resolution_filter" in err[0]  # the list of known ops
    assert not (tmp_path / "out" / "res.jsonl").exists()


def test_mistyped_parameter_exits_2_naming_it(tmp_path, dataset):
    path = write_recipe(tmp_path / "r.yaml", dataset, [{"video_duration_filter": {"min_duration": "abc"}}])
    done = dj_process("--config", str(path))
    assert done.returncode == 2
    assert "process[0] video_duration_filter: min_duration: expected a number, got 'abc'" in done.stderr


def test_unknown_parameter_suggests_the_right_one(tmp_path, dataset):
    message = recipe_error(tmp_path, dataset, [{"video_duration_filter": {"min_duraton": 3}}])
    assert "unknown parameter 'min_duraton'" in message and "did you mean 'min_duration'" in message


def test_impossible_range_names_both_values(tmp_path, dataset):
    message = recipe_error(tmp_path, dataset, [{"video_duration_filter": {"min_duration": 30, "max_duration": 10}}])
    assert "process[0] video_duration_filter: min_duration 30.0 > max_duration 10.0" in message


def test_missing_dataset_file(tmp_path):
    message = recipe_error(tmp_path, tmp_path / "nope.jsonl", [{"video_duration_filter": {}}])
    assert "dataset_path" in message and "nope.jsonl" in message and "does not exist" in message


def test_unknown_global_key_and_wrong_type(tmp_path, dataset):
    assert "did you mean 'export_path'" in recipe_error(tmp_path, dataset, [], exprt_path="x.jsonl")
    assert "np: expected an integer, got 'two'" in recipe_error(tmp_path, dataset, [], np="two")
    assert "export_path" in recipe_error(tmp_path, dataset, [], export_path=str(tmp_path / "out.csv"))


def test_data_juicer_only_keys_are_accepted(tmp_path, dataset):
    path = write_recipe(
        tmp_path / "r.yaml", dataset, [{"video_duration_filter": None}], open_monitor=True, op_fusion=False
    )
    recipe = load_recipe(str(path))
    assert recipe.ops[0].name == "video_duration_filter"


def test_overrides_for_global_keys_and_op_parameters(tmp_path, dataset):
    path = write_recipe(
        tmp_path / "r.yaml",
        dataset,
        [{"video_duration_filter": {"min_duration": 1}}, {"video_duration_filter": {"min_duration": 2}}],
    )
    overrides = parse_overrides(
        [
            "--np",
            "2",
            "--export_path=" + str(tmp_path / "o.parquet"),
            "--video_duration_filter.max_duration",
            "9",
            "--process.1.min_duration",
            "5",
        ]
    )
    recipe = load_recipe(str(path), overrides=overrides)
    assert recipe.np == 2 and recipe.export_path.endswith("o.parquet")
    assert [op.config["max_duration"] for op in recipe.ops] == [9, 9]
    assert [op.config["min_duration"] for op in recipe.ops] == [1, 5]
    with pytest.raises(RecipeError, match="no step uses op 'video_duraton_filter'"):
        load_recipe(str(path), overrides={"video_duraton_filter.min_duration": 1})


def test_resolved_recipe_fills_every_parameter(tmp_path, dataset):
    path = write_recipe(tmp_path / "r.yaml", dataset, [{"video_aspect_ratio_filter": {"min_ratio": "3/4"}}])
    resolved = load_recipe(str(path)).resolved()
    params = resolved["process"][0]["video_aspect_ratio_filter"]
    assert params["min_ratio"] == "3/4" and params["max_ratio"] == "21/9" and params["any_or_all"] == "any"
