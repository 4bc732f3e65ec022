"""References that read well in a CLI, a URL and a log line: `churn/runs/8f3a...`.

A bare id (`8f3a...`) uses the default project; a qualified one names its project.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.core.ids import is_run_id_prefix
from tandem.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class RunRef:
    project: str | None
    run_id: str

    def __str__(self) -> str:
        return f"{self.project}/runs/{self.run_id}" if self.project else self.run_id


def parse_run_ref(text: str, default_project: str | None = None) -> RunRef:
    """Parse `ID`, `PROJECT/runs/ID` or `PROJECT/ID`; ID may be a unique prefix of 6+ hex digits."""
    parts = text.strip().split("/")
    if len(parts) == 1:
        project, run_id = default_project, parts[0]
    elif len(parts) == 2:
        project, run_id = parts
    elif len(parts) == 3 and parts[1] == "runs":
        project, run_id = parts[0], parts[2]
    else:
        raise InvalidInput(f"invalid run reference {text!r}: use RUN_ID or PROJECT/runs/RUN_ID")
    run_id = run_id.lower()
    if not is_run_id_prefix(run_id):
        raise InvalidInput(
            f"invalid run id {run_id!r}: a run id is 32 hex digits (a prefix of 6 or more works)"
        )
    return RunRef(project=project or None, run_id=run_id)
