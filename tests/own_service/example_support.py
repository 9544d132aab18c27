"""The example service's test stack: Postgres behind a Toxiproxy proxy, the service on top."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chaosgate.processes import ManagedProcess, free_port
from examples.example_service.run import start_example_service
from fixtures.local.services import LocalService
from fixtures.toxiproxy import ToxiproxyAdapter

PROXY = "postgres"


@dataclass
class ExampleStack:
    workdir: Path
    pg: LocalService
    toxiproxy: ToxiproxyAdapter
    listen: int  # the proxy's port: the service's DSN points here, never at Postgres itself
    apps: list[ManagedProcess] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.listen}/chaosgate"

    def start(self, *, resilient: bool) -> str:
        """Start the service; its base URL."""
        port = free_port()
        self.apps.append(start_example_service(self.workdir, port, self.dsn, resilient=resilient))
        return f"http://127.0.0.1:{port}"

    def cut(self) -> None:
        """Postgres unreachable as in a partition: connections stay open, nothing comes back
        (Toxiproxy's `timeout` toxic with 0 holds the bytes; removing it closes them)."""
        self.toxiproxy.add_toxic(PROXY, "timeout", attributes={"timeout": 0}, name="blackhole")

    def heal(self) -> None:
        self.toxiproxy.remove_toxic(PROXY, "blackhole")
