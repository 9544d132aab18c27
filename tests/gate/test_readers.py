"""Every input reader refuses what it cannot trust: exit 2 naming the file (and line), never a
hang, a MemoryError, a RecursionError traceback, or a value silently taken (issue 23)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, ConfigError, InputError, ResultFileError
from chaosgate.inputfile import read_yaml
from chaosgate.settings import load_settings
from reports.load import load_result
from scenarios.users.request_mix import load_mix

from .test_schema import GOOD

pytestmark = pytest.mark.unit

BOMB = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def cli(*args: str | Path) -> tuple[int, str]:
    """Run `chaosgate ARGS` in-process: its exit code and what it printed."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code: object = 0
        except SystemExit as exited:
            code = exited.code
    return (code if isinstance(code, int) else 1), out.getvalue() + err.getvalue()


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


# the reader itself


def test_duplicate_yaml_keys_are_refused_at_the_second_ones_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(InputError, match=rf"^{path}:4: duplicate key 'c' \(first at line 3\)"):
        read_yaml(path, "scenario file")


def test_an_alias_bomb_is_refused_fast_without_expanding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    started = time.monotonic()
    with pytest.raises(InputError, match=rf"^{path}:\d+: .*more than \d+ values"):
        read_yaml(path, "request mix")
    assert time.monotonic() - started < 2


def test_deep_nesting_long_strings_and_huge_integers_are_refused(tmp_path: Path) -> None:
    cases = {
        "deep.yaml": "a: " + "[" * 100 + "]" * 100 + "\n",
        "deeper.yaml": "[" * 100_000 + "]" * 100_000,
        "long.yaml": "name: " + "x" * 100_000 + "\n",
        "int.yaml": "seed: " + "9" * 100_000 + "\n",
        "self.yaml": "a: &a [*a]\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match=rf"^{path}:\d+: "):
            read_yaml(path, "scenario file")


def test_a_fifo_a_directory_and_dev_zero_are_not_read(tmp_path: Path, fifo: Path) -> None:
    for path in (fifo, tmp_path, Path("/dev/zero")):
        with pytest.raises(InputError, match=rf"^{path}: .*not a regular file"):
            read_yaml(path, "scenario file")


# scenario: cross-field rules


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "fault: down}",
            "fault: down, detect: mysql}",
            r":10: faults\.0\.detect: .*'mysql' is not a dependency",
        ),
        ("- {ramp_to_rps: 40, over_s: 2s}", "- {ramp_to_rps: true, over_s: 2s}", r":7: .*boolean"),
        ("seed: 7", "seed: true", r":3: seed: .*boolean"),
        (
            "  - recovery(pg-down) < 30s\n",
            "  - recovery(pg-down) < 30s\n  - p95(*)<200ms during baseline\n",
            r":15: kpis\.3: .*listed twice \(also kpis\.0\)",
        ),
        ("seed: 7\n", "seed: 7\nseed: 8\n", r":4: duplicate key 'seed' \(first at line 3\)"),
        ("name: pg-down", "name: " + "a" * 100_000, r":1: "),
    ],
)
def test_values_accepted_before_are_exit_2_at_their_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    path = scenario(tmp_path, GOOD.replace(old, new, 1))
    started = time.monotonic()
    code, output = cli("run", path, "--check")
    assert code == EXIT_BAD_INPUT, output
    assert len(output) < 2000, output[:500]  # no value echoed back whole

    assert re.search(re.escape(str(path)) + expected, output), output
    assert time.monotonic() - started < 10


def test_a_symlink_loop_in_load_users_is_exit_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    path = scenario(tmp_path, GOOD.replace("users: [api, dashboard]", "users: [loop.yaml]"))
    code, output = cli("run", path, "--check")
    assert code == EXIT_BAD_INPUT, output
    assert "loop.yaml" in output
    assert "symbolic links" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    request_names = 5\n", r"shop\.py:6: request_names: expected a list or tuple"),
        ("    n = " + "+".join(["1"] * 200_000) + "\n", r"shop\.py:1: "),
    ],
)
def test_a_bad_locustfile_is_exit_2_naming_the_py(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "shop.py").write_text(
        "from locust import HttpUser, task\n\n\nclass Shop(HttpUser):\n"
        "    x = 1\n" + body + "    @task\n    def home(self):\n        self.client.get('/')\n"
    )
    path = scenario(tmp_path, GOOD.replace("users: [api, dashboard]", "users: [shop.py:Shop]"))
    code, output = cli("run", path, "--check")
    assert code == EXIT_BAD_INPUT, output[:2000]
    assert re.search(expected, output), output[:2000]


def test_a_billion_laughs_mix_body_is_refused_fast(tmp_path: Path) -> None:
    mix = tmp_path / "mix.yaml"
    mix.write_text(
        BOMB.replace("\n", "\n  ").replace("a: &a", "bomb:\n  a: &a", 1)
        + "\nrequests:\n  - {method: POST, path: /items, json: *i}\n"
    )
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"^{mix}:\d+: .*more than"):
        load_mix(mix)
    assert time.monotonic() - started < 2


# harness settings file and environment


def test_settings_file_problems_name_the_file_and_line(
    tmp_path: Path, fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    cases: list[tuple[Path | None, str | bytes, str]] = [
        (bad, "timeouts:\n  startup_s: 1\n  startup_s: 2\n", rf"^{bad}:3: duplicate key"),
        (bad, "timeouts:\n  startup_s: -1\n", rf"^{bad}:2: timeouts\.startup_s: "),
        (bad, "timeouts:\n  startup_s: true\n", rf"^{bad}:2: timeouts\.startup_s: .*boolean"),
        (bad, b"backend: \xff\n", rf"^{bad}:1: .*not UTF-8 .*offset 9"),
        (bad, "a: " + "[" * 100_000, rf"^{bad}:1: "),
        (fifo, "", rf"^{fifo}: .*not a regular file"),
        (tmp_path, "", rf"^{tmp_path}: .*directory"),
        (Path("/dev/zero"), "", r"^/dev/zero: .*not a regular file"),
    ]
    for path, text, expected in cases:
        assert path is not None
        if path == bad:
            bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ConfigError, match=expected):
            load_settings(path)
    (tmp_path / "chaosgate.yaml").mkdir()  # the default file, a directory: not a traceback
    with pytest.raises(ConfigError, match=r"^chaosgate\.yaml: .*directory"):
        load_settings()


def test_environment_problems_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fifo: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAOSGATE_TIMEOUTS", "{not json")
    with pytest.raises(ConfigError, match=r"^environment variable CHAOSGATE_TIMEOUTS: "):
        load_settings()
    monkeypatch.delenv("CHAOSGATE_TIMEOUTS")
    monkeypatch.setenv("CHAOSGATE_TIMEOUTS__STARTUP_S", "soon")
    with pytest.raises(
        ConfigError, match=r"^environment variable CHAOSGATE_TIMEOUTS__STARTUP_S: timeouts\."
    ):
        load_settings()
    monkeypatch.delenv("CHAOSGATE_TIMEOUTS__STARTUP_S")
    (tmp_path / "state").write_text("a file")
    monkeypatch.setenv("CHAOSGATE_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(ConfigError, match=r"state_dir: .* not a directory"):
        load_settings()
    monkeypatch.delenv("CHAOSGATE_STATE_DIR")
    monkeypatch.setenv("CHAOSGATE_CONFIG", str(fifo))
    with pytest.raises(ConfigError, match=rf"^{fifo}: .*not a regular file"):
        load_settings()


def test_run_check_reads_the_config_flag(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("timeouts:\n  startup_s: nope\n")
    code, output = cli("run", scenario(tmp_path, GOOD), "--check", "--config", settings)
    assert code == EXIT_BAD_INPUT, output
    assert f"{settings}:2: timeouts.startup_s" in output


# result files (report, compare, replay)


def result_text() -> str:
    return (Path(__file__).parents[1] / "reports" / "result_pass.json").read_text()


def test_result_file_problems_name_the_file(tmp_path: Path, fifo: Path) -> None:
    duplicated = tmp_path / "dup.json"
    text = result_text()
    document = json.loads(text)
    lines = json.dumps(document, indent=2).splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith('"run_id"'))
    lines.insert(at + 1, lines[at])
    duplicated.write_text("\n".join(lines))
    huge = tmp_path / "huge.json"
    huge.write_text(
        text.replace('"schema_version"', '"x": ' + "9" * 100_000 + ', "schema_version"', 1)
    )
    damaged = tmp_path / "damaged.json"  # the renderers failed on it: exit 4
    damaged.write_text(text.replace('"histogram": "', '"histogram": "zz', 1))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    cases = [
        (duplicated, rf"^{duplicated}:{at + 2}: duplicate key 'run_id'"),
        (huge, rf"^{huge}: "),
        (deep, rf"^{deep}:1: .*nests deeper"),
        (damaged, rf"^{damaged}: scenarios\[0\]\.series\[0\]\.histogram: not an HDR histogram"),
        (fifo, rf"^{fifo}: .*not a regular file"),
        (Path("/dev/zero"), r"^/dev/zero: .*not a regular file"),
        (tmp_path, rf"^{tmp_path}: .*directory"),
    ]
    for path, expected in cases:
        with pytest.raises(ResultFileError, match=expected):
            load_result(path)
    for command in (["report"], ["compare", fifo], ["replay"]):
        code, output = cli(*command, fifo)
        assert code == EXIT_BAD_INPUT, (command, output)
        assert str(fifo) in output
        assert "Traceback" not in output
