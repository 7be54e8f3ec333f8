# The serving and training image. SageMaker runs `docker run IMAGE serve` and `docker run IMAGE train`:
#   docker build -t byom .
#   docker run -p 8080:8080 -v "$PWD/model:/opt/ml/model:ro" byom serve
#   docker run -v "$PWD/opt_ml:/opt/ml" byom train
#   docker run -v "$PWD/model:/opt/ml/model" byom export-tree   (a scikit-learn tree's export: docs/training.md)
# BASE_IMAGE may be any Debian-family image with python3.11 and its venv module
# (CI builds on a local bookworm base because it cannot reach Docker Hub).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS dependencies
COPY requirements/runtime.lock /tmp/runtime.lock
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --only-binary=:all: \
      --no-deps --require-hashes -r /tmp/runtime.lock \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && find /opt/venv -depth -type d \( -name tests -o -name test \) -exec rm -rf {} + \
 && cd /opt/venv/lib/python3.11/site-packages \
 && rm -rf sklearn/datasets/data sklearn/datasets/images \
           simdjson/simdjson.cpp simdjson/simdjson.h simdjson/util.cpp simdjson/csimdjson.pyx

# The C extension modules, the XGBoost tree walk (container/flavours/compiled_walk.py) and the
# CSV, one-row JSON and libsvm readers (container/codecs/, training's too), compiled on the runtime base against its Python's
# headers (python:3.11-slim has them; a Debian python3 gets them from python3-dev); the compiler and
# headers stay behind in this stage.
FROM ${BASE_IMAGE} AS extensions
RUN headers=$(python3 -c 'import sysconfig; print(sysconfig.get_path("include"))') \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
      $(test -f "$headers/Python.h" || echo python3-dev) \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/build.lock /build/requirements/
RUN python3 -m venv /build/venv \
 && /build/venv/bin/pip install --no-cache-dir --disable-pip-version-check --only-binary=:all: \
      --no-deps --require-hashes -r /build/requirements/build.lock
COPY pyproject.toml README.md /build/
COPY scripts/build-extensions /build/scripts/
COPY container/codecs/row_reader.c /build/container/codecs/
COPY container/flavours/tree_walk.c /build/container/flavours/
COPY container/tree_shap.c /build/container/
RUN PYTHON=/build/venv/bin/python /build/scripts/build-extensions

FROM ${BASE_IMAGE}
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      com.amazonaws.sagemaker.capabilities.multi-models=true \
      org.opencontainers.image.title="byom" \
      org.opencontainers.image.description="SageMaker-compatible server for XGBoost and scikit-learn models"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/byom \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Nothing the server does not need: the base's bundled pip/setuptools wheels (python3-venv) and
# the standard library's own test suite. tests/test_image.py checks the result.
RUN rm -rf /usr/share/python-wheels /usr/lib/python3.11/test
COPY --from=dependencies /opt/venv /opt/venv
COPY container /opt/byom/container
COPY --from=extensions /build/container/flavours/_tree_walk.*.so /opt/byom/container/flavours/
COPY --from=extensions /build/container/codecs/_row_reader.*.so /opt/byom/container/codecs/
COPY --from=extensions /build/container/_tree_shap.*.so /opt/byom/container/
COPY serve train export-tree /usr/local/bin/
RUN python3 -m compileall -q /opt/byom
EXPOSE 8080
CMD ["serve"]
