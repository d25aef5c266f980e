"""The executor contract (djlite/executors/base.py): the registry, `supports` checked once at validation with one
message per unsupported key, and a third executor (tests/serial_executor.py) giving the local results."""

import json

import pytest
from helpers import read_jsonl, video_samples, write_jsonl, write_recipe
from loguru import logger

import djlite
from djlite.errors import RecipeError
from djlite.executors.base import Executor, executor_class, executor_names, register_executor, unsupported
from djlite.recipe import load_recipe

PROCESS = [{"video_duration_filter": {"min_duration": 1.0}}, {"video_resolution_filter": {"min_width": 16}}]


@pytest.fixture
def dataset(tmp_path, clips):
    names = ["moving", "static", "short", "broken", "text"]
    return write_jsonl(tmp_path / "data.jsonl", video_samples([clips[n] for n in names]))


@pytest.fixture
def warnings():
    messages = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    yield messages
    logger.remove(sink)


def test_registry_lists_the_built_in_executors():
    assert {"default", "ray"} <= set(executor_names())
    assert executor_class("default").name == "default"
    ray_cls = executor_class("ray")
    assert ray_cls.name == "ray" and issubclass(ray_cls, Executor)
    with pytest.raises(RecipeError, match="executor_type 'spark' is not one of default, ray"):
        executor_class("spark")


def test_an_executor_must_implement_the_contract_and_declare_known_capabilities():
    class Half(Executor):
        name = "half"

        def run(self, dataset, ops, load_errors):
            return dataset

    with pytest.raises(TypeError, match="export"):
        Half(None, None)

    class Boasting(Half):
        name = "boasting"
        supports = frozenset({"time_travel"})

    with pytest.raises(ValueError, match="unknown capabilities \\['time_travel'\\]"):
        register_executor(Boasting)


def test_unsupported_keys_come_from_supports_one_message_per_key(tmp_path, dataset, warnings):
    path = write_recipe(tmp_path / "r.yaml", dataset, PROCESS, export_filtered=True, open_tracer=True)
    recipe = load_recipe(str(path))
    recipe.use_checkpoint = True
    assert unsupported(recipe, executor_class("default")) == []
    found = unsupported(recipe, executor_class("ray"), where="r.yaml")
    assert [(key, level) for key, level, _ in found] == [
        ("use_checkpoint", "warning"),
        ("export_filtered", "error"),
        ("open_tracer", "error"),
    ]
    assert found[1][2] == (
        "r.yaml: export_filtered is not implemented for executor_type: ray yet; "
        "run this recipe with the default executor"
    )

    # Checked where the recipe is validated: the refusals in one RecipeError, a line each.
    with pytest.raises(RecipeError) as refused:
        load_recipe(str(path), overrides={"executor_type": "ray"})
    lines = str(refused.value).splitlines()
    assert len(lines) == 2 and "export_filtered" in lines[0] and "open_tracer" in lines[1]

    # An ignored key is a warning, at validation, before any run.
    plain = write_recipe(tmp_path / "p.yaml", dataset, PROCESS, executor_type="ray", use_checkpoint=True)
    assert load_recipe(str(plain)).executor_type == "ray"
    assert warnings == ["use_checkpoint works with the local executor only; this Ray run starts from the beginning"]


def test_a_third_executor_in_one_file_registers_itself_and_gives_the_local_result(tmp_path, dataset, warnings):
    import serial_executor

    assert "serial" in executor_names() and executor_class("serial") is serial_executor.SerialExecutor
    path = write_recipe(tmp_path / "r.yaml", dataset, PROCESS, export_filtered=True)
    local = djlite.run(str(path), export_path=str(tmp_path / "local" / "res.jsonl"))
    serial = djlite.run(str(path), executor_type="serial", export_path=str(tmp_path / "serial" / "res.jsonl"))

    assert local.summary["kept"] == 3 and local.summary["filtered"] == 1 and local.summary["errored"] == 1
    for key in ("input", "kept", "filtered", "errored", "balanced"):
        assert serial.summary[key] == local.summary[key]
    assert read_jsonl(serial.result_paths[0]) == read_jsonl(local.result_paths[0])
    assert serial.dataset.to_list() == local.dataset.to_list()
    filtered = [tmp_path / d / "res_filtered.jsonl" for d in ("local", "serial")]
    assert [json.loads(x)["videos"] for x in filtered[1].read_text().splitlines()] == [
        json.loads(x)["videos"] for x in filtered[0].read_text().splitlines()
    ]
    assert len(read_jsonl(serial.errors_path)) == 1

    # Its declaration alone decides what it refuses or ignores.
    again = write_recipe(tmp_path / "c.yaml", dataset, PROCESS, executor_type="serial", use_checkpoint=True)
    load_recipe(str(again))
    assert [m for m in warnings if "use_checkpoint" in m] == [
        "use_checkpoint works with the local executor only; this serial run starts from the beginning"
    ]


def test_np_above_the_cpus_is_capped_with_one_message(tmp_path, dataset):
    import os

    np_ = (os.cpu_count() or 1) + 1
    messages = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="INFO")
    try:
        result = djlite.run(str(write_recipe(tmp_path / "r.yaml", dataset, PROCESS, np=np_)))
    finally:
        logger.remove(sink)
    assert result.summary["input"] == 5
    assert [m for m in messages if f"np={np_} is more than the" in m] == [
        f"np={np_} is more than the {os.cpu_count()} CPUs here; using np={os.cpu_count()}"
    ]
