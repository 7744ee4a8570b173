"""The training loop's recorders, one concern each: the two tables, the evaluation's files,
the checkpoints, the summary, the curves plot, the dashboards' scalars, and what the user
sees. Each is testable by calling its hooks directly."""

from .base import BatchRecord, EpochRecord, Outcome, Recorder
from .checkpoint_writer import CheckpointWriter
from .curves import CurvesPlot
from .dashboards import DashboardScalars, check_loggers
from .evaluation_files import EvaluationFiles
from .progress import PlainReporter, RichReporter, SilentReporter, make_reporter
from .summary import RunFacts, Summary
from .tables import BatchTable, EpochTable

__all__ = [
    "BatchRecord",
    "BatchTable",
    "CheckpointWriter",
    "CurvesPlot",
    "DashboardScalars",
    "EpochRecord",
    "EpochTable",
    "EvaluationFiles",
    "Outcome",
    "PlainReporter",
    "Recorder",
    "RichReporter",
    "RunFacts",
    "SilentReporter",
    "Summary",
    "check_loggers",
    "make_reporter",
]
