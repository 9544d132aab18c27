"""Hostile inputs for every reader: the same file-level attacks (FIFO, directory, /dev/zero,
symlink loop, not UTF-8, oversize, nesting, alias bombs, duplicate keys, huge strings and
integers, truncation, random bytes...) against each input kind, plus each kind's own wrong
values. Each variant is run in-process with a time limit; the outcome is its exit code, its
output and whether it hung. `python -m tests.gate.hostile_inputs` prints the table per kind.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

GOOD_SCENARIO = """\
name: pg-down
tags: [release]
seed: 7
load:
  users: [api, dashboard]
  rate:
    - {ramp_to_rps: 80, over_s: 2s}
    - {hold_s: 60s}
faults:
  - {name: pg-down, at_s: 30, for_s: 20s, target: postgres, fault: down}
kpis:
  - p95(*) < 200ms during baseline
  - {expression: "error_rate(*) < 1% during baseline", abort: true, grace_s: 2}
  - recovery(pg-down) < 30s
"""
GOOD_MIX = """\
requests:
  - name: GET /items/{id}
    method: get
    path: /items/{{ random_int(1, 1000) }}
    weight: 3
    expect: [200, 404]
  - method: POST
    path: /items
    json: {name: "item-{{ random_int(1, 9) }}"}
    expect: [201]
"""
GOOD_LOCUSTFILE = """\
from locust import HttpUser, task


class Shop(HttpUser):
    @task
    def item(self):
        self.client.get("/items/1", name="GET /items/{id}")
"""
GOOD_TARGET = """\
target_url: http://127.0.0.1:8080
upstreams:
  postgres: {upstream: 127.0.0.1:5432, listen: 25432}
"""
GOOD_SETTINGS = """\
backend: local
timeouts:
  startup_s: 60
  readiness_s: 30
"""
RESULT = Path(__file__).resolve().parents[1] / "reports" / "result_pass.json"
SUT_CONFIG = Path(__file__).resolve().parents[2] / "sut" / "config.yaml"

BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['x'] * 9)}]\n"
    for i in range(9)
)


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None: it hung (killed by the time limit)
    output: str
    seconds: float

    def clean(self, named: str) -> bool:
        """Exit 2, the file (or variable) named, no traceback, no hang."""
        return (
            self.code == 2
            and named in self.output
            and "Traceback" not in self.output
            and "harness error" not in self.output
        )


class _Hung(BaseException):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Hung


def call(run: Callable[[], object], limit_s: float = 10.0) -> Outcome:
    """`run()` (a CLI call) with its output captured and a time limit (SIGALRM)."""
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    started = time.monotonic()
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run()
                code = 0
            except SystemExit as exited:
                code = exited.code if isinstance(exited.code, int) else 1
            except _Hung:
                code = None
            except Exception as error:
                import traceback

                code = 99
                err.write("Traceback (in-process)\n" + "".join(traceback.format_exception(error)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if "matplotlib.pyplot" in sys.modules:  # a render cut short leaves its figure open
            sys.modules["matplotlib.pyplot"].close("all")
    return Outcome(code, out.getvalue() + err.getvalue(), time.monotonic() - started)


# file-level attacks, shared by every kind: name -> writer(path, good_text) (None: path given)
Writer = Callable[[Path, str], Path]


def _text(content: str | bytes) -> Writer:
    def write(path: Path, _good: str) -> Path:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return write


def _from_good(change: Callable[[str], str | bytes]) -> Writer:
    def write(path: Path, good: str) -> Path:
        changed = change(good)
        path.write_bytes(changed if isinstance(changed, bytes) else changed.encode())
        return path

    return write


def _fifo(path: Path, _good: str) -> Path:
    os.mkfifo(path)
    return path


def _directory(path: Path, _good: str) -> Path:
    path.mkdir()
    return path


def _dev_zero(_path: Path, _good: str) -> Path:
    return Path("/dev/zero")


def _loop(path: Path, _good: str) -> Path:
    path.symlink_to(path)
    return path


def _dangling(path: Path, _good: str) -> Path:
    path.symlink_to(path.with_name("nowhere"))
    return path


def _oversize(size: int) -> Writer:
    def write(path: Path, _good: str) -> Path:
        with path.open("wb") as handle:
            handle.write(b"a: 1\n")
            handle.truncate(size)  # sparse: a huge file that costs no disk
        return path

    return write


def _random_bytes(seed: int) -> Writer:
    def write(path: Path, _good: str) -> Path:
        path.write_bytes(random.Random(seed).randbytes(300))
        return path

    return write


def _first_key_twice(good: str) -> str:
    first = next(line for line in good.splitlines() if line and not line.startswith("#"))
    return first + "\n" + good


def _nested_key_twice(good: str) -> str:
    lines = good.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("  ") and ":" in line and not line.lstrip().startswith("-"):
            lines.insert(index + 1, line)
            return "\n".join(lines) + "\n"
    return _first_key_twice(good)


FILE_ATTACKS: dict[str, Writer] = {
    "fifo": _fifo,
    "directory": _directory,
    "dev-zero": _dev_zero,
    "symlink-loop": _loop,
    "dangling-symlink": _dangling,
    "empty": _text(""),
    "only-a-comment": _text("# nothing\n"),
    "latin-1": _text(b"# caf\xe9\na: 1\n"),
    "utf-16": _from_good(lambda g: g.encode("utf-16")),
    "nul-byte": _from_good(lambda g: g[:20] + "\x00" + g[20:]),
    "oversize": _oversize(70 << 20),
    "truncated-half": _from_good(lambda g: g[: len(g) // 2]),
    "truncated-tenth": _from_good(lambda g: g[: len(g) // 10]),
    "nested-100000": _text("[" * 100_000 + "]" * 100_000),
    "nested-100": _text("a: " + "[" * 100 + "]" * 100 + "\n"),
    "alias-bomb": _text(BOMB),
    "self-alias": _text("a: &a [*a]\n"),
    "duplicate-top-key": _from_good(_first_key_twice),
    "duplicate-nested-key": _from_good(_nested_key_twice),
    "string-100000": _from_good(lambda g: g + "zz: " + "x" * 100_000 + "\n"),
    "int-100000-digits": _from_good(lambda g: g + "zz: " + "9" * 100_000 + "\n"),
    "top-level-list": _text("- a\n- b\n"),
    "top-level-scalar": _text("just text\n"),
    "python-tag": _text("a: !!python/object/apply:os.system ['true']\n"),
    "tab-indent": _from_good(lambda g: g.replace("  ", "\t", 1)),
    "unknown-top-key": _from_good(lambda g: g + "surprise: 1\n"),
    "random-bytes-1": _random_bytes(1),
    "random-bytes-2": _random_bytes(2),
    "random-bytes-3": _random_bytes(3),
}
JSON_ATTACKS: dict[str, Writer] = {
    "fifo": _fifo,
    "directory": _directory,
    "dev-zero": _dev_zero,
    "symlink-loop": _loop,
    "dangling-symlink": _dangling,
    "empty": _text(""),
    "latin-1": _from_good(lambda g: g.replace('"', '"\xe9', 1).encode("latin-1")),
    "utf-16": _from_good(lambda g: g.encode("utf-16")),
    "oversize": _oversize(70 << 20),
    "truncated-half": _from_good(lambda g: g[: len(g) // 2]),
    "truncated-end": _from_good(lambda g: g[:-2]),
    "nested-100000": _text("[" * 100_000 + "]" * 100_000),
    "nested-100": _from_good(
        lambda g: g.replace(
            '"schema_version"', '"x": ' + "[" * 100 + "]" * 100 + ', "schema_version"', 1
        )
    ),
    "int-100000-digits": _from_good(
        lambda g: g.replace('"schema_version"', '"x": ' + "9" * 100_000 + ', "schema_version"', 1)
    ),
    "duplicate-top-key": _from_good(
        lambda g: g.replace('"status"', '"status": "pass", "status"', 1)
    ),
    "duplicate-nested-key": _from_good(
        lambda g: g.replace('"run_id"', '"run_id": "x", "run_id"', 1)
    ),
    "top-level-list": _text("[1, 2]"),
    "top-level-string": _text('"result"'),
    "wrong-schema": _from_good(lambda g: g.replace("chaosgate.result/", "chaosgate.result/9", 1)),
    "exit-code-7": _from_good(lambda g: g.replace('"exit_code": 0', '"exit_code": 7', 1)),
    "status-bogus": _from_good(lambda g: g.replace('"status": "pass"', '"status": "great"', 1)),
    "damaged-histogram": _from_good(lambda g: g.replace('"histogram": "', '"histogram": "zz', 1)),
    "nan": _from_good(lambda g: g.replace('"exit_code": 0', '"exit_code": NaN', 1)),
    "random-bytes-1": _random_bytes(1),
    "random-bytes-2": _random_bytes(2),
    "random-bytes-3": _random_bytes(3),
}
LOCUST_ATTACKS: dict[str, Writer] = {
    **{
        k: v
        for k, v in FILE_ATTACKS.items()
        if k
        in (
            "fifo",
            "directory",
            "dev-zero",
            "symlink-loop",
            "dangling-symlink",
            "empty",
            "latin-1",
            "utf-16",
            "nul-byte",
            "oversize",
            "truncated-half",
            "random-bytes-1",
            "random-bytes-2",
        )
    },
    "request-names-5": _from_good(
        lambda g: g.replace("    @task", "    request_names = 5\n\n    @task", 1)
    ),
    "request-names-ints": _from_good(
        lambda g: g.replace("    @task", "    request_names = (1, 2)\n\n    @task", 1)
    ),
    "expression-200000": _from_good(lambda g: g + "X = " + "+".join(["1"] * 200_000) + "\n"),
    "nested-parens": _from_good(lambda g: g + "X = " + "(" * 300 + ")" * 300 + "\n"),
    "syntax-error": _from_good(lambda g: g.replace("def item", "def item(", 1)),
    "no-class": _text("x = 1\n"),
    "not-a-user": _from_good(lambda g: g.replace("(HttpUser)", "(object)", 1)),
    "no-tasks": _from_good(lambda g: g.replace("    @task\n", "", 1)),
}


def _replace(old: str, new: str) -> Writer:
    def change(good: str) -> str:
        assert old in good, old
        return good.replace(old, new, 1)

    return _from_good(change)


SCENARIO_VALUES: dict[str, Writer] = {
    "detect-mysql": _replace("fault: down}", "fault: down, detect: mysql}"),
    "ramp-to-rps-true": _replace("ramp_to_rps: 80", "ramp_to_rps: true"),
    "seed-true": _replace("seed: 7", "seed: true"),
    "grace-true": _replace("grace_s: 2", "grace_s: true"),
    "kpi-twice": _replace(
        "  - recovery(pg-down) < 30s\n",
        "  - recovery(pg-down) < 30s\n  - p95(*) < 200ms during baseline\n",
    ),
    "name-100000": _replace("name: pg-down\n", "name: " + "a" * 100_000 + "\n"),
    "name-60000": _replace("name: pg-down\n", "name: " + "a" * 60_000 + "\n"),
    "at-inf": _replace("at_s: 30", "at_s: .inf"),
    "rate-1e9": _replace("ramp_to_rps: 80", "ramp_to_rps: 1e9"),
    "users-empty": _replace("users: [api, dashboard]", "users: []"),
    "seed-huge": _replace("seed: 7", "seed: " + "9" * 40),
}
SETTINGS_VALUES: dict[str, Writer] = {
    "startup-true": _replace("startup_s: 60", "startup_s: true"),
    "startup-negative": _replace("startup_s: 60", "startup_s: -1"),
    "startup-text": _replace("startup_s: 60", "startup_s: soon"),
    "backend-bogus": _replace("backend: local", "backend: kubernetes-cluster"),
    "unknown-section": _replace("timeouts:", "timeoutz:"),
    "section-a-list": _replace(
        "timeouts:\n  startup_s: 60\n  readiness_s: 30\n", "timeouts: [1]\n"
    ),
}
MIX_VALUES: dict[str, Writer] = {
    "bomb-in-json-body": _text(
        "bomb:\n"
        + "".join("  " + line + "\n" for line in BOMB.splitlines())
        + "requests:\n  - {method: POST, path: /items, json: *l8}\n"
    ),
    "requests-5": _text("requests: 5\n"),
    "weight-true": _replace("weight: 3", "weight: true"),
    "bad-template": _replace("random_int(1, 1000)", "random_int(1, "),
}
TARGET_VALUES: dict[str, Writer] = {
    "upstreams-5": _replace(
        "upstreams:\n  postgres: {upstream: 127.0.0.1:5432, listen: 25432}\n", "upstreams: 5\n"
    ),
    "port-true": _replace("listen: 25432", "listen: true"),
    "url-bogus": _replace("http://127.0.0.1:8080", "nowhere"),
}


@dataclass(frozen=True)
class Kind:
    """One input kind: its good text, the file it is written to, and how the CLI reads it."""

    name: str
    good: str
    filename: str
    attacks: dict[str, Writer]
    invoke: Callable[[Path, Path], list[Callable[[], object]]]  # (file, folder) -> calls


def _cli(*args: str) -> Callable[[], object]:
    from chaosgate.cli import main

    return lambda: main(list(args))


def _scenario_using(folder: Path, old: str, new: str) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(GOOD_SCENARIO.replace(old, new, 1))
    return path


def _sut_config(file: Path, _folder: Path) -> list[Callable[[], object]]:
    from sut.config import SutConfigError, load_sut_settings

    def run() -> None:
        try:
            load_sut_settings(file)
        except SutConfigError as error:  # `python -m sut` prints it and exits 2
            print(f"sut: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    return [run]


def _settings_file(file: Path, folder: Path) -> list[Callable[[], object]]:
    scenario = _scenario_using(folder, "", "")

    def by_environment() -> object:  # CHAOSGATE_CONFIG=FILE
        os.environ["CHAOSGATE_CONFIG"] = str(file)
        try:
            return _cli("run", str(scenario), "--check")()
        finally:
            del os.environ["CHAOSGATE_CONFIG"]

    return [_cli("run", str(scenario), "--check", "--config", str(file)), by_environment]


def _users(entry: str, folder: Path) -> list[Callable[[], object]]:
    """A user-load reference read by `run --check` and by `chaosgate load --users`."""
    scenario = _scenario_using(folder, "users: [api, dashboard]", f"users: ['{entry}']")
    out = str(folder / "runs")
    return [_cli("run", str(scenario), "--check"),
            _cli("load", "--url", "http://127.0.0.1:9", "--users", entry, "--duration", "1s",
                 "--out", out)]  # fmt: skip


KINDS: list[Kind] = [
    Kind("scenario", GOOD_SCENARIO, "broken.yaml", {**FILE_ATTACKS, **SCENARIO_VALUES},
         lambda file, _folder: [_cli("run", str(file), "--check")]),
    Kind("SUT config", SUT_CONFIG.read_text(), "sut.yaml", FILE_ATTACKS, _sut_config),
    Kind("target", GOOD_TARGET, "target.yaml", {**FILE_ATTACKS, **TARGET_VALUES},
         lambda file, folder: [_cli("run", str(_scenario_using(
             folder, "seed: 7\n", f"seed: 7\ntarget: {file}\n")), "--check")]),
    Kind("request mix", GOOD_MIX, "mix.yaml", {**FILE_ATTACKS, **MIX_VALUES},
         lambda file, folder: _users(str(file), folder)),
    Kind("locustfile", GOOD_LOCUSTFILE, "shop.py", LOCUST_ATTACKS,
         lambda file, folder: _users(f"{file}:Shop", folder)),
    Kind("settings file", GOOD_SETTINGS, "settings.yaml", {**FILE_ATTACKS, **SETTINGS_VALUES},
         _settings_file),
    Kind("result file", RESULT.read_text(), "result.json", JSON_ATTACKS,
         lambda file, _folder: [_cli("report", str(file), "--format", "markdown"), _cli("compare", str(file), str(RESULT)),
                                _cli("compare", str(RESULT), str(file)), _cli("replay", str(file))]),
]  # fmt: skip

ENV_VARIANTS: dict[str, str] = {
    "CHAOSGATE_TIMEOUTS": "{not json",
    "CHAOSGATE_IMAGES": "[1, 2]",
    "CHAOSGATE_TIMEOUTS__STARTUP_S": "soon",
    "CHAOSGATE_TIMEOUTS__READINESS_S": "-5",
    "CHAOSGATE_BACKEND": "kubernetes",
    "CHAOSGATE_NETWORK": "overlay",
    "CHAOSGATE_TIMEOUTS__SURPRISE_S": "1",
    "CHAOSGATE_STATE_DIR": "<a file>",
    "CHAOSGATE_REPORTS_DIR": "<a file>",
    "CHAOSGATE_CONFIG": "<fifo>",
    "CHAOSGATE_CONFIG ": "<directory>",
    "CHAOSGATE_CONFIG  ": "/dev/zero",
    "CHAOSGATE_CONFIG   ": "<missing>",
    "CHAOSGATE_TIMEOUTS ": '{"startup_s": "x"}',
    "CHAOSGATE_TOXIPROXY": "5",
}


@dataclass(frozen=True)
class Case:
    kind: str
    variant: str
    named: str  # what the message must name: the file, or the variable
    outcome: Outcome


def _env_case(variable: str, value: str, folder: Path) -> Case:
    name = variable.strip()
    if value == "<a file>":
        (folder / "plain").write_text("x")
        value = str(folder / "plain")
    elif value == "<fifo>":
        os.mkfifo(folder / "pipe.yaml")
        value = str(folder / "pipe.yaml")
    elif value == "<directory>":
        value = str(folder)
    elif value == "<missing>":
        value = str(folder / "missing.yaml")
    scenario = _scenario_using(folder, "", "")
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        outcome = call(_cli("run", str(scenario), "--check"))
    finally:
        if saved is None:
            del os.environ[name]
        else:
            os.environ[name] = saved
    named = value if name == "CHAOSGATE_CONFIG" else name
    return Case("environment", f"{variable.strip()}={value[:30]}", named, outcome)


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chaosgate-hostile-") as name:
        previous = Path.cwd()
        os.chdir(name)  # no chaosgate.yaml of the caller's is read
        try:
            yield Path(name)
        finally:
            os.chdir(previous)


def cases(kind: Kind) -> Iterator[Case]:
    for variant, writer in kind.attacks.items():
        with _folder() as folder:
            file = writer(folder / kind.filename, kind.good)
            for index, run in enumerate(kind.invoke(file, folder)):
                label = variant if index == 0 else f"{variant} ({index + 1})"
                yield Case(kind.name, label, str(file), call(run))


def env_cases() -> Iterator[Case]:
    for variable, value in ENV_VARIANTS.items():
        with _folder() as folder:
            yield _env_case(variable, value, folder)


def all_cases() -> Iterator[Case]:
    for kind in KINDS:
        yield from cases(kind)
    yield from env_cases()


def table(found: list[Case]) -> str:
    rows = ["| input | variants | exit 2, named | other exits | hangs | slowest s |",
            "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for kind in dict.fromkeys(c.kind for c in found):
        mine = [c for c in found if c.kind == kind]
        clean = sum(c.outcome.clean(c.named) for c in mine)
        hangs = sum(c.outcome.code is None for c in mine)
        slowest = max(c.outcome.seconds for c in mine)
        rows.append(f"| {kind} | {len(mine)} | {clean} | {len(mine) - clean - hangs} | {hangs} |"
                    f" {slowest:.1f} |")  # fmt: skip
    total = len(found)
    clean = sum(c.outcome.clean(c.named) for c in found)
    hangs = sum(c.outcome.code is None for c in found)
    rows.append(f"| **all** | {total} | {clean} | {total - clean - hangs} | {hangs} | |")
    return "\n".join(rows)


if __name__ == "__main__":
    found = []
    for case in all_cases():
        found.append(case)
        if not case.outcome.clean(case.named):
            first = case.outcome.output.strip().splitlines()[:1]
            print(f"NOT CLEAN {case.kind} / {case.variant}: exit {case.outcome.code}: {first}",
                  file=sys.__stderr__)  # fmt: skip
    print(table(found))
