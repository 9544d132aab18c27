"""pytest plugin: YAML scenarios collected as items, the `fault` and `load` fixtures, suite markers."""
