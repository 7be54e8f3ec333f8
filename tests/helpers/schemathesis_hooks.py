"""schemathesis hooks for tests/test_openapi.py (loaded through SCHEMATHESIS_HOOKS): how to put
the container's own body types on the wire, which schemathesis has no serializer for."""

import schemathesis

schemathesis.serializer.alias("application/jsonlines", "text/plain")
schemathesis.serializer.alias("application/x-npy", "application/octet-stream")
