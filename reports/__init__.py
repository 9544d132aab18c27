"""Result model, KPI evaluation and renderers. Renderers only render; they never compute."""
