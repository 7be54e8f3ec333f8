"""gunicorn's entry point for the reference stack (`wsgi:app`), as in the AWS sample."""

from predictor import app

__all__ = ["app"]
