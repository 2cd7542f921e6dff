"""Operations: probes, metrics, logs, tracing and graceful shutdown, beside the request path."""
