"""`python -m sut --config FILE [--role backend|gateway|ai_memory] [--replica NAME]`.

Exit status: 0 after a clean stop (SIGTERM or Ctrl-C/SIGINT: both drain, neither is an
error), 1 when a process failed to start or one of the supervised processes exited, 2 when the
config is wrong (nothing was started)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sut.config import SutConfigError, load_sut_settings
from sut.run import ROLES, serve, supervise

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sut", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="the SUT config YAML")
    parser.add_argument("--role", choices=ROLES, help="run one process; omit to run all four")
    parser.add_argument("--replica", help="which ai_memory replica (mcp.replicas[].name)")
    args = parser.parse_args(argv)
    try:
        settings = load_sut_settings(args.config)
        if args.replica is not None:
            if args.role != "ai_memory":
                raise SutConfigError("--replica applies only with --role ai_memory")
            settings.mcp.replica(args.replica)
    except SutConfigError as error:
        print(f"sut: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    level = getattr(logging, settings.service.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # During an outage these libraries log a traceback per retry; the health monitor already
    # reports the outage once (alerts, /api/ready), so keep only their errors.
    for noisy in ("asyncpg.pool", "snowflake.connector"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))
    if args.role is None:
        return supervise(settings, args.config)
    return serve(settings, args.role, args.replica)


if __name__ == "__main__":
    sys.exit(main())
