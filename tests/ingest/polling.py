"""Running `manage.py poll` as a user would, and what it printed."""

import io
from dataclasses import dataclass

from django.core.management import CommandError, call_command


@dataclass
class PollRun:
    stdout: str
    stderr: str
    error: CommandError | None

    @property
    def summary(self) -> str:
        return [line for line in self.stdout.splitlines() if line.startswith("poll:")][-1]


def run_poll() -> PollRun:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("poll", stdout=stdout, stderr=stderr)
    except CommandError as error:
        return PollRun(stdout.getvalue(), stderr.getvalue(), error)
    return PollRun(stdout.getvalue(), stderr.getvalue(), None)
