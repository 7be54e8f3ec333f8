"""The HTTP server and process plumbing around the inference application.

What lives here: `serve` (the command), gunicorn's entry point, arbiter and hooks, the worker and
its jobs (reading, answering, sending, deadlines, stopping), the framing of requests as they
arrive, the fast path for plain requests, the listener and CPU-scheduling tweaks, and every touch
of a gunicorn internal (`gunicorn_internals`).

The rule of this folder: it knows HTTP and processes, not models. Its modules import from the
application only `container.settings` and `container.errors`; the three places where the server
meets the application, `serve`, `gunicorn_hooks` and `wsgi`, may also import the app factory and
the flavours' start-up checks. tests/test_layout.py holds the rule.
"""
