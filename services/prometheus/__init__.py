"""The Prometheus side: the metrics source, all PromQL, query presets and metric names."""
