"""The user's own load, read by the harness without running it: request mixes (templates,
request names), locustfiles (read statically), and their paths relative to the scenario file;
bad input is exit 2 naming file:line and what was expected."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from chaosgate.cli import main
from chaosgate.errors import EXIT_BAD_INPUT, ScenarioError
from scenarios.load.plan import LoadPlan
from scenarios.loader import load_scenario
from scenarios.users import request_names
from scenarios.users.locustfile import LocustfileError, inspect_class
from scenarios.users.request_mix import MixError, Template, load_mix

pytestmark = pytest.mark.unit

MIX = """\
requests:
  - name: GET /items/{id}
    method: get
    path: /items/{{ random_int(1, 1000) }}
    weight: 3
    expect: [200, 404]
  - method: POST
    path: /items
    headers: {X-Tenant: demo}
    json: {name: "item-{{ random_int(1, 9) }}", n: "{{ random_int(5, 5) }}"}
    capture: {item_id: id}
    expect: [201]
  - name: GET /items/{created}
    path: /items/{{ item_id }}
"""

SHOP = """\
from locust import FastHttpUser, HttpUser, task


class Base(HttpUser):
    abstract = True

    @task
    def health(self):
        self.client.get("/health")


class Shop(Base):
    @task
    def item(self):
        self.client.get(f"/items/{self.n}", name="GET /items/{id}")
        self.client.post("/orders", json={})


class Declared(FastHttpUser):
    request_names = ("a", "b")

    @task
    def t(self):
        self.client.get("/x", name="ignored")


class NotAUser:
    @task
    def t(self):
        pass


class Idle(HttpUser):
    pass
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_mix_names_its_requests_and_renders_its_templates(tmp_path: Path) -> None:
    mix = load_mix(_write(tmp_path, "mix.yaml", MIX))
    assert mix.names == ("GET /items/{id}", "POST /items", "GET /items/{created}")
    get, post, created = mix.requests
    assert (get.method, get.weight, get.expect) == ("GET", 3, frozenset({200, 404}))
    assert (created.expect, created.needs) == (None, frozenset({"item_id"}))
    assert created.accepts(302)
    assert not created.accepts(404)
    rng = random.Random(1)
    paths = {get.path.render(rng, {}) for _ in range(200)}
    assert all(1 <= int(p.removeprefix("/items/")) <= 1000 for p in paths)
    assert len(paths) > 100
    assert created.path.render(rng, {"item_id": 42}) == "/items/42"
    assert post.json_body["n"].render(rng, {}) == 5  # one expression alone keeps its type
    assert post.json_body["name"].render(rng, {}).startswith("item-")
    assert Template.parse("/{{ random_choice(a, 'b c') }}").render(rng, {}) in ("/a", "/b c")


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("method: get", "method: FETCH", r"mix.yaml:3: requests.0.method: expected one of GET"),
        ("path: /items\n", "path: items\n", r"mix.yaml:8: requests.1.path: expected a path"),
        ("random_int(1, 1000)", "eval(1)", r"mix.yaml:4: requests.0.path: .*unknown function"),
        ("random_int(1, 1000)", "random_int(a, 2)", r"requests.0.path: .*'a' is not an integer"),
        ("random_int(1, 1000)", "random_int(1000, 1)", r"random_int needs a <= b"),
        ("{{ item_id }}", "{{ item }}", r"mix.yaml:13: requests.2: uses item, which no request"),
        ("random_int(1, 9)", "nope(", r"requests.1.json: .*not a template"),
        ("weight: 3", "weight: 0", r"mix.yaml:5: requests.0.weight: .*greater than 0"),
        ("expect: [201]", "expect: [700]", r"requests.1.expect: expected HTTP statuses"),
        ("weight: 3", "wieght: 3", r"mix.yaml:5: requests.0.wieght: unknown field"),
    ],
)
def test_a_bad_mix_names_file_line_and_what_was_expected(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    assert old in MIX
    path = _write(tmp_path, "mix.yaml", MIX.replace(old, new, 1))
    with pytest.raises(MixError, match=said):
        load_mix(path)


def test_a_mix_where_every_request_needs_a_capture_cannot_start(tmp_path: Path) -> None:
    text = "requests:\n  - {path: '/a/{{ x }}', capture: {x: id}}\n"
    with pytest.raises(MixError, match="every request needs a captured value"):
        load_mix(_write(tmp_path, "mix.yaml", text))


def test_a_locustfile_is_read_without_importing_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "shop.py", SHOP)
    assert inspect_class(path, "Shop") == ("GET /items/{id}", "/orders", "/health")
    assert inspect_class(path, "Declared") == ("a", "b")


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("missing.py:Shop", r"missing.py: locustfile not found"),
        ("shop.py:NotAUser", r"shop.py:27: class NotAUser is not a Locust user \(expected a sub"),
        ("shop.py:Idle", r"shop.py:33: class Idle has no tasks"),
        ("shop.py:Nobody", r"shop.py: no class 'Nobody' at top level \(classes: Base, Shop"),
        ("broken.py:X", r"broken.py:1: not valid Python"),
    ],
)
def test_a_bad_locustfile_entry_names_what_was_expected(
    tmp_path: Path, entry: str, said: str
) -> None:
    _write(tmp_path, "shop.py", SHOP)
    _write(tmp_path, "broken.py", "class X(:\n")
    path, _, name = entry.partition(":")
    with pytest.raises(LocustfileError, match=said):
        inspect_class(tmp_path / path, name)


SCENARIO = """\
name: own-load
load:
  users:
    - mix.yaml
    - lib/shop.py:Shop
  rate: [{rps: 5, hold_s: 10s}]
kpis:
  - p95(GET /items/{id}) < 200ms
  - error_rate(/orders) < 1%
"""


def test_scenario_paths_are_relative_to_the_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "service"
    _write(folder, "mix.yaml", MIX)
    _write(folder / "lib", "shop.py", SHOP)
    scenario_file = _write(folder, "own.yaml", SCENARIO)
    monkeypatch.chdir(tmp_path)  # the user stands elsewhere
    scenario = load_scenario(Path("service/own.yaml"))
    assert scenario.load.users == [
        str(folder.resolve() / "mix.yaml"),
        f"{folder.resolve() / 'lib/shop.py'}:Shop",
    ]
    assert {"GET /items/{created}", "/orders", "/health"} <= scenario.request_names()
    # the worker reads the absolute paths back from the plan, whatever its cwd
    assert LoadPlan.model_validate_json(scenario.plan().model_dump_json()).users == (
        scenario.load.users
    )
    assert request_names(scenario.load.users[0])[0] == "GET /items/{id}"
    assert scenario_file.exists()


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("lib/shop.py:Shop", "lib/nope.py:Shop", r"own.yaml:5: load.users.1: .*nope.py: locust"),
        ("lib/shop.py:Shop", "lib/shop.py:NotAUser", r"own.yaml:5: .*is not a Locust user"),
        ("- mix.yaml", "- other.yaml", r"own.yaml:4: load.users.0: .*other.yaml: request mix"),
        ("error_rate(/orders)", "error_rate(/basket)", r"own.yaml:9: kpis.1: .*'/basket' is none"),
    ],
)
def test_bad_user_entries_and_unknown_requests_are_exit_2_with_file_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, said: str
) -> None:
    _write(tmp_path, "mix.yaml", MIX)
    _write(tmp_path / "lib", "shop.py", SHOP)
    path = _write(tmp_path, "own.yaml", SCENARIO.replace(old, new))
    with pytest.raises(ScenarioError, match=said):
        load_scenario(path)
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--check"])
    assert exited.value.code == EXIT_BAD_INPUT
    assert "Traceback" not in capsys.readouterr().err


def test_a_bad_mix_names_both_the_scenario_line_and_the_mix_line(tmp_path: Path) -> None:
    _write(tmp_path, "mix.yaml", MIX.replace("method: POST", "method: BREW"))
    _write(tmp_path / "lib", "shop.py", SHOP)
    with pytest.raises(ScenarioError, match=r"own.yaml:4: load.users.0: .*mix.yaml:7: requests"):
        load_scenario(_write(tmp_path, "own.yaml", SCENARIO))


def test_an_accepted_status_is_no_error() -> None:
    """`expect: [404]` (catch_response + success()): Locust reports no exception. The old
    code counted every status >= 400 as an error whatever the task said."""
    from scenarios.load.recorder import error_kind

    class Response:
        status_code = 404

    assert error_kind(None, Response()) is None
    assert error_kind(RuntimeError("refused"), Response()) == "http_404"
    assert error_kind(ConnectionError("reset"), None) == "ConnectionError"


def test_a_fifo_or_directory_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "mix.yaml")
    with pytest.raises(MixError, match="not a regular file"):
        load_mix(tmp_path / "mix.yaml")
    (tmp_path / "dir.py").mkdir()
    with pytest.raises(LocustfileError, match="not a file"):
        inspect_class(tmp_path / "dir.py", "X")


def test_two_mixes_of_the_same_name_in_two_folders_run_side_by_side(tmp_path: Path) -> None:
    one = _write(tmp_path / "a", "mix.yaml", MIX)
    two = _write(tmp_path / "b", "mix.yaml", MIX)
    assert LoadPlan(users=[str(one), str(two)], rate=[{"rps": 1, "hold_s": 1}]).users == [
        str(one),
        str(two),
    ]
    shop = _write(tmp_path / "c", "shop.py", SHOP)
    _write(tmp_path / "d", "shop.py", SHOP)
    with pytest.raises(ScenarioError, match=r"users.1: .* are both Locust class 'Shop'"):
        LoadPlan(
            users=[f"{shop}:Shop", f"{tmp_path}/d/shop.py:Shop"], rate=[{"rps": 1, "hold_s": 1}]
        )
