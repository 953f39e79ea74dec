"""The window's cost: training throughput with the studio open against a headless RunLoop, and the
UI event-loop latency while it trains. The measurement lives in gan_studio.app.benchmark.

    python benchmarks/bench_window.py [--preset ring8] [--steps 400] [--rounds 7]
"""
import sys

from gan_studio.app.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
