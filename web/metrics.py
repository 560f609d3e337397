"""Prometheus metrics: request counts and latency per endpoint, index version and size.

Under `kindred serve` every gunicorn worker writes its samples to PROMETHEUS_MULTIPROC_DIR
(set up by web.serve before the workers start), and /metrics adds them up, so a scrape
that lands on any worker sees the whole server.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.values import ValueClass

from web.replication import replica_metrics

REQUESTS = Counter("kindred_http_requests_total", "HTTP requests answered.", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "kindred_http_request_duration_seconds", "Time to answer a request.", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class IndexCollector:
    """Index version and size, read from the worker's SearchService at scrape time."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        health = self.app.extensions["kindred.search"].health()
        info = InfoMetricFamily("kindred_index", "The index version being served.")
        info.add_metric([], {"version": health["version"], "engine": health["engine"]})
        yield info
        docs = GaugeMetricFamily("kindred_index_documents", "Articles in the index being served.")
        docs.add_metric([], health["doc_count"])
        yield docs
        analytics = self.app.extensions["kindred.analytics"].counters
        events = GaugeMetricFamily("kindred_analytics_events", "Analytics events by outcome (this worker).",
                                   labels=["outcome"])
        for outcome in ("recorded", "dropped", "failed", "limited"):
            events.add_metric([outcome], getattr(analytics, outcome))
        yield events
        yield from replica_metrics(self.app.extensions["kindred.settings"])


def _multiprocess() -> bool:
    return getattr(ValueClass, "__name__", "") != "MutexValue"


def register(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.kindred_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.pop("kindred_started", None)
        endpoint = request.endpoint or "unknown"
        if started is not None and endpoint != "ops.metrics":
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    @app.get("/metrics", endpoint="ops.metrics")
    def metrics():
        registry = CollectorRegistry()
        if _multiprocess():
            multiprocess.MultiProcessCollector(registry)
        else:
            for collector in (REQUESTS, LATENCY):
                registry.register(collector)
        registry.register(IndexCollector(app))
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
