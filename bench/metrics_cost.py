"""`python bench/metrics_cost.py`: what the metrics add to one request, in process: a single-row
iris /invocations through the app alone and through the app whose access log tells `Instruments`,
writing their memory-mapped files in a scratch directory (as in a worker), interleaved
rounds of 20,000 requests each, median microseconds per request. bench/results/metrics.md.

`python bench/metrics_cost.py --only on|off --requests N` sends N requests through one side and
nothing else, for an instruction count that a shared machine does not disturb:
`valgrind --tool=callgrind` at two values of N, the difference divided by theirs."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
REQUESTS = 20_000
ROUNDS = 5
ROW = b"5.1,3.5,1.4,0.2"


def environ() -> dict[str, object]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/invocations", "CONTENT_TYPE": "text/csv",
            "CONTENT_LENGTH": str(len(ROW)), "wsgi.input": io.BytesIO(ROW)}  # fmt: skip


def per_request_us(app: object, requests: int = REQUESTS) -> float:
    def start_response(status: str, headers: object, *args: object) -> None:
        return None

    started = time.perf_counter()
    for _ in range(requests):
        app(environ(), start_response)  # type: ignore[operator]
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("on", "off"), help="one side, once (for callgrind)")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    arguments = parser.parse_args()
    sys.path.insert(0, str(CHECKOUT))
    from container.app import create_app
    from container.metrics.instruments import Instruments
    from container.settings import Settings

    settings = Settings(model_dir=CHECKOUT / "model")
    plain = create_app(settings)
    scratch = Path(tempfile.mkdtemp(prefix="byom-metrics-cost-"))
    measured = create_app(settings, observer=Instruments(scratch))
    sys.stdout = io.StringIO()  # the access log's lines
    if arguments.only:
        per_request_us(measured if arguments.only == "on" else plain, arguments.requests)
        return
    off, on = [], []
    for _ in range(ROUNDS):
        off.append(per_request_us(plain))
        on.append(per_request_us(measured))
    sys.stdout = sys.__stdout__
    print(f"metrics off: {statistics.median(off):.1f} us per request ({min(off):.1f}-{max(off):.1f})")
    print(f"metrics on:  {statistics.median(on):.1f} us per request ({min(on):.1f}-{max(on):.1f})")
    print(f"added: {statistics.median(on) - statistics.median(off):.1f} us")


if __name__ == "__main__":
    main()
