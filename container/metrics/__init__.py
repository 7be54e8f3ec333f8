"""Prometheus metrics: `GET /metrics` on its own port (BYOM_METRICS_PORT; 0 turns it off),
counting what every worker process did. See docs/metrics.md.

    instruments   the metrics a worker records, and the WSGI middleware that records them
                  (no HTTP server, no files of its own: prometheus_client's multiprocess values)
    exposition    the master's side: the shared directory made before fork, the scrape server,
                  dead workers' files merged, process memory (no WSGI, no request path)
"""
