"""Prometheus metrics: request counts and latency per endpoint, index version and size.

Under `kindred serve` every gunicorn worker writes its samples to files in one directory
(web.serve names it in PROMETHEUS_MULTIPROC_DIR before any worker imports this module:
prometheus_client picks its storage when first imported), and a scrape that lands on any
worker adds up the files of all of them. Elsewhere (the test client, `--dev`) the samples
stay in this process.
"""

from __future__ import annotations

from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from web.replication import replica_metrics

REQUESTS = Counter("kindred_http_requests_total", "HTTP requests answered.", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "kindred_http_request_duration_seconds", "Time to answer a request.", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SHARED_DIRECTORY = "kindred.metrics_dir"


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


def share_between_workers(app: Flask, directory: str) -> None:
    """Scrapes of `app` add up the samples every worker wrote to `directory`."""
    app.extensions[SHARED_DIRECTORY] = directory


def observe(endpoint: str, method: str, status: int, seconds: float) -> None:
    LATENCY.labels(endpoint).observe(seconds)
    REQUESTS.labels(endpoint, method, str(status)).inc()


def exposition(app: Flask) -> tuple[bytes, str]:
    """The text a scrape gets, and its content type."""
    registry = CollectorRegistry()
    directory = app.extensions.get(SHARED_DIRECTORY)
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(IndexCollector(app))
    return generate_latest(registry), CONTENT_TYPE_LATEST
