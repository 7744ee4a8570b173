"""Run directories: the one place that knows what ``swint train`` leaves behind and how to
read it back.

:mod:`.layout` names the files and creates directories, :mod:`.tables` appends, repairs and
reads the CSV tables, :mod:`.info` is ``run.json`` (what export and predict need),
:mod:`.checkpoint_files` the weights and optimizer files, :mod:`.reader` reads a whole run for
``compare``, ``export`` and ``predict``, and :mod:`.timing` summarises step times (of runs
and of ``bench``).
No Paddle import: reading runs needs none.
"""

from .directory import RunDirectory
from .layout import BATCH_COLUMNS, EPOCH_COLUMNS, RunError, create_report_dir, new_timestamped_dir
from .reader import Run, not_a_run, open_run, read_run, read_runs
from .timing import TimeSummary, summarize_times

__all__ = [
    "BATCH_COLUMNS",
    "EPOCH_COLUMNS",
    "Run",
    "RunDirectory",
    "RunError",
    "TimeSummary",
    "create_report_dir",
    "new_timestamped_dir",
    "not_a_run",
    "open_run",
    "read_run",
    "read_runs",
    "summarize_times",
]
