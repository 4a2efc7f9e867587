"""procio: run child processes so that no pipe error can mask their exit, and none is leaked."""

from procio.environment import GIT_LOCATION_VARIABLES, child_environment
from procio.errors import CommandFailed, CommandTimeout, ProcError, SpawnError
from procio.result import Result
from procio.runner import (
    DEFAULT_KILL_GRACE,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_PIPE_GRACE,
    call_blocking,
    run,
    run_sync,
)

__all__ = [
    "DEFAULT_KILL_GRACE",
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_PIPE_GRACE",
    "GIT_LOCATION_VARIABLES",
    "CommandFailed",
    "CommandTimeout",
    "ProcError",
    "Result",
    "SpawnError",
    "call_blocking",
    "child_environment",
    "run",
    "run_sync",
]
