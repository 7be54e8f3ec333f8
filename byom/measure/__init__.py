"""Measuring a server: `byom loadtest`, its open-loop generator and the result files it writes.

Owns: the load spec (flags or an artillery-style script), the generator (arrivals on schedule,
latency from the scheduled send), the HTTP client it sends with, the per-second histograms and the
timeline file (JSON, CSV) that `byom plan` and `byom simulate` read, and the reader of artillery's
own JSON report, period by period (artillery_report). Must not know AWS, nor what a plan does with
the numbers.
"""
