"""OpenTelemetry tracing, an optional extra (`pip install bosun-mcp[otel]`).

On when `BOSUN_OTEL_ENABLED=true` or `OTEL_TRACES_EXPORTER` names an exporter
(`otlp`, the default when enabled, or `console`); the rest comes from the
standard `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_RESOURCE_ATTRIBUTES`, ...). A span per MCP request and one per tool call;
the parent comes from the request's `_meta.traceparent` (the MCP convention) or
else the HTTP `traceparent` header. Off, nothing here is imported or called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from bosun.ops.logs import trace_id


def wanted(enabled_setting: bool) -> bool:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    return enabled_setting or (exporter not in ("", "none"))


class Tracing:
    def __init__(self, service_name: str) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp") or "otlp"
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        provider = TracerProvider(resource=resource)
        if exporter_name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.provider = provider
        self.tracer = provider.get_tracer("bosun")
        self._extract = propagate.extract
        self._kind_server = trace.SpanKind.SERVER
        self._kind_internal = trace.SpanKind.INTERNAL

    @contextlib.contextmanager
    def request(self, method: str, message: Any, header_traceparent: str | None) -> Iterator[Any]:
        carrier: dict[str, str] = {}
        params = message.get("params") if type(message) is dict else None
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is dict and isinstance(meta.get("traceparent"), str):
            carrier["traceparent"] = meta["traceparent"]
            if isinstance(meta.get("tracestate"), str):
                carrier["tracestate"] = meta["tracestate"]
        elif header_traceparent:
            carrier["traceparent"] = header_traceparent
        parent = self._extract(carrier) if carrier else None
        with self.tracer.start_as_current_span(f"MCP {method}", context=parent, kind=self._kind_server) as span:
            span.set_attribute("mcp.method.name", method)
            if type(message) is dict and "id" in message:
                span.set_attribute("jsonrpc.request.id", str(message["id"]))
            token = trace_id.set(format(span.get_span_context().trace_id, "032x"))
            try:
                yield span
            finally:
                trace_id.reset(token)

    @contextlib.contextmanager
    def tool(self, name: str) -> Iterator[Any]:
        with self.tracer.start_as_current_span(f"tools/call {name}", kind=self._kind_internal) as span:
            span.set_attribute("gen_ai.tool.name", name)
            yield span

    def shutdown(self) -> None:
        self.provider.shutdown()

    async def stop(self) -> None:
        """`shutdown` as a shutdown hook: flushes the spans still buffered."""
        self.shutdown()
