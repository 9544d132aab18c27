"""A request mix that logs in (`setup:`): parsed and checked before the run (unit), then driven
against a small app behind bearer auth (tests/own_service/auth_app.py): one log-in per load worker
shared by its users, the token in the scored requests' headers, a re-run on 401, the set-up's
time in the result."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaosgate.processes import ManagedProcess, free_port, wait_until
from scenarios.load import LoadPlan, LoadRun
from scenarios.users.request_mix import MixError, load_mix

HERE = Path(__file__).parent

LOGIN_MIX = """\
setup:
  once: {once}
  requests:
    - name: log in
      method: POST
      path: /api/v1/login/access-token
      form: {{username: "{{{{ env(GATE_USERNAME) }}}}", password: "{{{{ env(GATE_PASSWORD) }}}}"}}
      expect: [200]
      capture: {{token: access_token}}
requests:
  - name: GET /items/
    path: /api/v1/items/
    headers: {{Authorization: "Bearer {{{{ token }}}}"}}
    capture: {{item_id: data.0.id}}
  - name: GET /items/{{id}}
    path: /api/v1/items/{{{{ item_id }}}}
    headers: {{Authorization: "Bearer {{{{ token }}}}"}}
"""


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_USERNAME", "admin@example.com")
    monkeypatch.setenv("GATE_PASSWORD", "changethis")


def _mix(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    return path


@pytest.mark.unit
def test_a_mix_with_a_setup_parses_and_its_captures_start_the_scored_requests(
    tmp_path: Path, credentials: None
) -> None:
    mix = load_mix(_mix(tmp_path, LOGIN_MIX.format(once="per_worker")))
    assert mix.setup is not None
    assert mix.setup.once == "per_worker"
    assert mix.setup.rerun_on == {401}
    (step,) = mix.setup.steps
    assert step.form is not None
    assert set(step.form) == {"username", "password"}
    assert step.request.capture == {"token": "access_token"}
    assert mix.requests[0].needs == {"token"}  # from the set-up: not "no request can start"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            LOGIN_MIX.format(once="per_worker"),
            "mix.yaml:4: setup.requests.0: uses the "
            "environment variable(s) GATE_PASSWORD, GATE_USERNAME, which is not set",
        ),
        (
            "setup: {requests: [{path: /l, json: {a: 1}, form: {a: b}}]}\nrequests: [{path: /}]\n",
            "mix.yaml:1: setup.requests.0: expected json: or form:, not both",
        ),
        (
            "setup: {requests: [{path: '/u/{{ t }}'}, {path: /l, capture: {t: x}}]}\n"
            "requests: [{path: /}]\n",
            "which no earlier set-up request captures",
        ),
        (
            "setup: {when: start, requests: [{path: /l}]}\nrequests: [{path: /}]\n",
            "setup.when: unknown field (expected once, rerun_on, max_reruns, requests)",
        ),
        ("setup: {once: per_run, requests: [{path: /l}]}\nrequests: [{path: /}]\n", "setup.once"),
    ],
)
def test_a_bad_setup_names_file_line_and_what_was_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.delenv("GATE_USERNAME", raising=False)
    monkeypatch.delenv("GATE_PASSWORD", raising=False)
    with pytest.raises(MixError, match=r"mix\.yaml") as error:
        load_mix(_mix(tmp_path, text))
    assert expected in str(error.value)


def start_auth_app(tmp_path: Path, *args: str, port: int = 0) -> tuple[str, ManagedProcess]:
    port = port or free_port()
    process = ManagedProcess(
        "auth-app",
        [sys.executable, str(HERE / "auth_app.py"), "--port", str(port), *args],
        tmp_path / f"auth-app-{port}-{time.monotonic_ns()}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:  # the OpenAPI document: the health check asks the store, maybe not there
        try:
            return httpx.get(f"{url}/api/v1/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, what="auth app", timeout_s=20, on_timeout=process.log_tail)
    return url, process


@pytest.fixture
def auth_app(tmp_path: Path) -> Iterator[tuple[str, ManagedProcess]]:
    url, process = start_auth_app(tmp_path, "--login-delay-ms", "300")
    try:
        yield url, process
    finally:
        process.stop(5)


def _stats(url: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{url}/api/v1/_stats", timeout=5).json()
    return stats


@pytest.mark.integration
def test_per_worker_setup_logs_in_once_and_the_scored_requests_carry_the_token(
    tmp_path: Path, credentials: None, auth_app: tuple[str, ManagedProcess]
) -> None:
    url, _ = auth_app
    mix = _mix(tmp_path, LOGIN_MIX.format(once="per_worker"))
    plan = LoadPlan(users=[str(mix)], rate=[{"rps": 30, "hold_s": 3}], concurrency=30, seed=1)
    outcome = LoadRun(plan, url, time.time(), tmp_path / "out", progress=False).start().wait()
    # a busy shared host may make sends late (said as such); a set-up failure may not
    assert "set-up" not in (outcome.generator.reason or ""), outcome.generator.reason
    assert outcome.count() >= 80
    assert sum(b.errors for b in outcome.series) == 0
    assert {b.name for b in outcome.series} == {"GET /items/", "GET /items/{id}"}  # set-up unscored
    assert _stats(url)["logins"] == 1  # 30 users, one log-in (300 ms each, not 30 x 300 ms)
    (line,) = outcome.generator.mix_setup
    assert line.startswith("set-up: 30 users of "), line
    took = float(line.split("ready in ")[1].split(" s")[0])
    assert took < 5.0, line  # one 300 ms log-in shared, not 30 of them one after another
    assert "1 log-in(s) shared (per_worker)" in line


@pytest.mark.integration
def test_per_user_setup_logs_in_each_user_and_a_401_logs_in_again_bounded(
    tmp_path: Path, credentials: None, auth_app: tuple[str, ManagedProcess]
) -> None:
    url, _ = auth_app
    mix = _mix(tmp_path, LOGIN_MIX.format(once="per_user"))
    plan = LoadPlan(users=[str(mix)], rate=[{"rps": 20, "hold_s": 4}], concurrency=4, seed=2)
    run = LoadRun(plan, url, time.time(), tmp_path / "out", progress=False).start()
    wait_until(lambda: _stats(url)["logins"] >= 4, what="the users' log-ins", timeout_s=20)
    time.sleep(2.0)
    httpx.post(f"{url}/api/v1/_expire", timeout=5)  # every token revoked mid-run
    outcome = run.wait()
    # a busy shared host may make sends late (said as such); a set-up failure may not
    assert "set-up" not in (outcome.generator.reason or ""), outcome.generator.reason
    stats = _stats(url)
    assert stats["logins"] == 8  # 4 users, each once at start and once after its first 401
    errors = sum(b.errors for b in outcome.series)
    assert 1 <= errors <= 12  # the requests in flight or sent before each re-login
    kinds = {k for b in outcome.series for k in b.error_kinds}
    assert kinds == {"http_401"}
    assert outcome.generator.mix_setup[-1].startswith("set-up again: 4 time(s) for Mix_mix_")


@pytest.mark.integration
def test_a_setup_that_times_out_makes_the_run_invalid_and_says_what_helps(
    tmp_path: Path, credentials: None
) -> None:
    url, app = start_auth_app(tmp_path, "--login-delay-ms", "1500")
    try:
        mix = _mix(tmp_path, LOGIN_MIX.format(once="per_user"))
        plan = LoadPlan(
            users=[str(mix)], rate=[{"rps": 10, "hold_s": 1}], concurrency=5,
            request_timeout_s=0.5,
        )  # fmt: skip
        run = LoadRun(plan, url, time.time(), tmp_path / "out", progress=False).start()
        outcome = run.wait()
    finally:
        app.stop(5)
    assert not outcome.generator.valid
    reason = outcome.generator.reason or ""
    assert "set-up log in: status 0" in reason, reason
    assert "`once: per_worker` logs in once per load worker" in reason, reason
