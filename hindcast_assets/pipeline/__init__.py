"""The pipeline: every stage a plain function over a run_dir (no Dagster import here), one
stage table (`table.py`) and one artefact store (`store.py`). The Dagster layer (`defs/`), the
benchmark's plain loop (`loop.py`) and `ExperimentResult` are all derived from them."""
