"""The launcher: what the CLI calls. Each module mints or opens a run_dir through the pipeline
and executes Dagster runs through the Dagster layer's `execute` and `experiment` modules."""
