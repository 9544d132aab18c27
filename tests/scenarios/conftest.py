"""tests/scenarios/data/ holds scenario files the tests hand to chaosgate (the explore proof).
The scenarios plugin collects every YAML under a folder named `scenarios` as a scenario item,
so without this the suite also ran the proof's scenario on its own (25 s, judging nothing the
tests ask)."""

collect_ignore_glob = ["data/*.yaml", "data/*.yml"]
