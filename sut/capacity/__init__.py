"""Capacity measurement of the SUT on this machine (`python -m sut.capacity`)."""
