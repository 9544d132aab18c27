"""chaosgate: chaos and load verification harness.

This package is the harness kernel shared by `fixtures`, `scenarios` and `reports`:
the exception tree (one root, one exit code per branch), the harness settings
(every timeout, image name and backend choice in one place), the processes we start
(`chaosgate.processes`: started and stopped by PID, free ports, `wait_until`) and the CLI
entry point.
"""

__version__ = "0.1.0"
