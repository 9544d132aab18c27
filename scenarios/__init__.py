"""What to run: Locust user behaviours, the load engine, scenario schema and loader, the CLI."""
