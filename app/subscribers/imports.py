"""CSV imports started from the studio, run in a background thread so the page can show
their progress.

The import itself is importer.import_csv in one transaction of its own (all valid rows or,
on a fatal error, none). Progress lives in this process only: it is a display aid, and the
outcome is in the database and the audit log either way. Behind several app replicas the
polls need sticky sessions; the API's synchronous import does not.
"""

import threading
import uuid
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy.engine import Engine

from app.accounts.principal import Principal
from app.db import unit_of_work
from app.errors import DomainError
from app.subscribers import importer

KEEP_JOBS = 50


@dataclass
class ImportJob:
    id: str
    started_by: int  # user id: only they follow it
    filename: str
    total_rows: int
    applied_rows: int = 0
    finished: bool = False
    report: importer.ImportReport | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def advance(self, rows: int) -> None:
        with self.lock:
            self.applied_rows += rows

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return min(99, int(100 * self.applied_rows / self.total_rows)) if self.total_rows else 0


class ImportJobs:
    """The imports of this process, newest kept; one per app (app.state.import_jobs)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> ImportJob | None:
        return self._jobs.get(job_id)

    def start(
        self, engine: Engine, *, upload: IO[bytes], filename: str, actor: Principal, user_id: int
    ) -> ImportJob:
        """Run the import of `upload` (a seekable file this job then owns and closes)."""
        job = ImportJob(
            id=uuid.uuid4().hex, started_by=user_id, filename=filename,
            total_rows=_data_lines(upload),
        )  # fmt: skip
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-KEEP_JOBS]:
                del self._jobs[old]
        thread = threading.Thread(
            target=_run, args=(engine, job, upload, actor), name=f"import-{job.id[:8]}", daemon=True
        )
        thread.start()
        return job


def _run(engine: Engine, job: ImportJob, upload: IO[bytes], actor: Principal) -> None:
    try:
        with unit_of_work(engine) as session:
            report = importer.import_csv(session, binary=upload, actor=actor, on_rows=job.advance)
        job.report = report
    except DomainError as exc:
        job.error = exc.detail
    except Exception as exc:  # shown to the user; the transaction was rolled back
        job.error = f"the import failed ({type(exc).__name__}); nothing was changed"
    finally:
        upload.close()
        job.finished = True


def _data_lines(upload: IO[bytes]) -> int:
    """Lines after the header, for the progress bar (quoted line breaks count extra)."""
    lines = 0
    last = b"\n"
    while chunk := upload.read(1 << 20):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    upload.seek(0)
    return max(0, lines + (last != b"\n") - 1)
