"""A third executor, as a new one is written: one file, a subclass of the contract that registers itself.

`executor_type: serial` runs every stage in this process, one sample after another (the local stage code through
`Runner` with no workers and no datasets cache reuse), and exports through the shared writers. It declares no
`use_checkpoint`: a recipe asking for it gets the warning, from the declaration alone."""

from djlite.executors.base import Executor, register_executor
from djlite.executors.local import Runner
from djlite.exporter import export_errors, export_kept, result_dataset


@register_executor
class SerialExecutor(Executor):
    name = "serial"
    supports = frozenset({"export_filtered", "open_tracer"})

    def run(self, dataset, ops, load_errors):
        recipe = self.recipe
        keep_filtered = recipe.export_filtered or recipe.open_tracer
        runner = Runner(1, recipe.on_error, use_cache=False, stats_only=self.stats_only, keep_filtered=keep_filtered)
        return runner.run(dataset, ops, load_errors)

    def export(self, outcome, writer, spool_dir):
        recipe = self.recipe
        outcome.result_paths = export_kept(
            outcome.dataset,
            writer,
            self.paths,
            shard_size=recipe.export_shard_size,
            keep_stats=recipe.keep_stats_in_res_ds,
            keep_hashes=recipe.keep_hashes_in_res_ds,
            spool_dir=spool_dir,
        )
        errors_path = export_errors(outcome.errored, outcome.load_errors, self.paths)
        outcome.dataset = result_dataset(outcome.dataset, recipe.keep_hashes_in_res_ds)
        return outcome, errors_path
