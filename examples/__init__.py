"""Services to gate that are not part of chaosgate: each shows the "gate your own service" path
from the outside (an app, its target, request mix and scenario). Nothing in the harness imports
this package."""
