"""Snakemake logger plugin ``arx``: every job of any rule becomes a run node of the exploration graph.

Snakemake finds it by its module name (``snakemake_logger_plugin_<name>``); the profiles switch it on with
``logger: [arx]``. The work is in :mod:`arx.artifact.joblog`; this module only maps Snakemake's log records
(``snakemake-interface-logger-plugins``) onto it. It writes nothing to the terminal and nothing in dry runs.
"""

from __future__ import annotations

from logging import LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from arx.artifact.joblog import JobRecorder


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.recorder = JobRecorder()

    def emit(self, record: LogRecord) -> None:
        if getattr(self.common_settings, "dryrun", False):
            return
        data = vars(record)  # Snakemake puts each event's fields on the record (logging's `extra`)
        event = data.get("event")
        try:
            if event == LogEvent.JOB_INFO:
                self.recorder.job_info(data["jobid"], data["rule_name"], data.get("wildcards"), data.get("output"),
                                       data.get("log"), data.get("shellcmd"))
            elif event == LogEvent.JOB_FINISHED:
                self.recorder.finished(data["job_id"])
            elif event == LogEvent.JOB_ERROR:
                self.recorder.error(data["jobid"])
        except Exception as e:  # a logger must never take the workflow down; say it once, keep going
            import sys

            print(f"arx logger plugin: could not record a run node ({type(e).__name__}: {e})", file=sys.stderr)

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # every job event, whatever --quiet says

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
