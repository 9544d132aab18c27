"""Capacity measurement of the SUT on this machine (`python -m scenarios.bench.capacity`)."""
