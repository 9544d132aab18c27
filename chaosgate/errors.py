"""The one exception tree of chaosgate. Every error maps to a CLI exit code.

    ChaosgateError                  root; never raised itself
    ├── InputError          (2)     bad input or configuration: fix the file or flag
    │   ├── ConfigError             a settings file or value is wrong
    │   ├── ScenarioError           a scenario file is wrong (file:line)
    │   ├── ExpressionError         a KPI expression does not parse (caret at the problem)
    │   ├── ResultFileError         a result JSON is unreadable or of another schema version
    │   └── PrerequisiteMissing     a binary or engine the chosen backend needs is absent
    └── RunInvalid          (3)     the run cannot be trusted, so it neither passes nor fails
        ├── StackError              the stack failed to start, answer or stop
        │   ├── ReadinessTimeout    a service did not become ready before its deadline
        │   └── ToxiproxyError      the Toxiproxy API refused or failed a call
        ├── FaultNotEffective       an injected fault was not observed to take effect
        └── GeneratorBehind         the load generator could not hold its schedule

A failed KPI is not an exception: it is a verdict, and the CLI exits 1 for it.
Any other exception is a bug in chaosgate itself (harness error): the CLI exits 4 with one line
and the path of the saved traceback, never 1, so CI never reads a crash as "a KPI failed".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_KPI_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INVALID = 3
EXIT_HARNESS_ERROR = 4  # an unexpected exception: not the SUT's fault, not the input's
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the record so far is written, no verdict


class ChaosgateError(Exception):
    """Root of every chaosgate error. `hint` tells the reader what to do next."""

    exit_code: int = EXIT_INVALID

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class InputError(ChaosgateError):
    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    pass


class ScenarioError(InputError):
    """A scenario file is wrong. `location` is "file:line" where known."""

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None):
        super().__init__(f"{location}: {message}" if location else message, hint=hint)
        self.location = location


class ExpressionError(InputError):
    """A KPI expression does not parse; the message shows it with a caret under `position`."""

    def __init__(self, expression: str, position: int, reason: str) -> None:
        caret = " " * max(position, 0) + "^"
        super().__init__(f"bad KPI expression: {reason}\n    {expression}\n    {caret}")
        self.expression = expression
        self.position = position
        self.reason = reason


class ResultFileError(InputError):
    pass


class PrerequisiteMissing(InputError):
    pass


class RunInvalid(ChaosgateError):
    exit_code = EXIT_INVALID


class StackError(RunInvalid):
    pass


class ReadinessTimeout(StackError):
    pass


class ToxiproxyError(StackError):
    pass


class FaultNotEffective(RunInvalid):
    pass


class GeneratorBehind(RunInvalid):
    pass
