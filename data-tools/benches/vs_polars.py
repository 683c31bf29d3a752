#!/usr/bin/env python3
"""`ticktape convert` of a Tardis trades CSV against polars `read_csv` of the same file.

Generates a Tardis-style binance-futures trades CSV (~200 MB by default, the
same columns and value shapes as `ticktape bench convert` generates), then
times, interleaved in one run, a whole `ticktape convert tardis` process
(parse, check, sort, write and sync the tape) and polars `read_csv` of the
same file in this process (parse into a DataFrame, nothing written). Prints
MB/s of both (median of --runs each) and the ratio ticktape / polars.

Both use every core by default (ticktape `--threads 0`, polars its own pool).
The first pass of each is a warm-up (page cache, polars thread pool) and not
counted. CI does not run this: it needs polars, and timings are not gates.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install polars
    cargo build --release -p ticktape
    /tmp/venv/bin/python data-tools/benches/vs_polars.py --mb 200 --runs 5
"""

import argparse
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def generate(path, size):
    """A deterministic Tardis trades CSV of at least `size` bytes: a price random
    walk on a 0.1 tick, sizes on a 0.001 lot, µs times with receive jitter."""
    rng = random.Random(7)
    ts = 1_723_075_200_000_000
    price = 618_003
    trade_id = 5_266_583_935
    written = 0
    with open(path, "w", newline="\n") as f:
        header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        f.write(header)
        written += len(header)
        while written < size:
            rows = []
            for _ in range(10_000):
                r = rng.getrandbits(64)
                ts += r % 20_000
                price += (r >> 20) % 5 - 2
                trade_id += 1
                qty = (r >> 32) % 5_000 + 1
                local = ts + 1_000 + (r >> 40) % 200_000
                side = "buy" if r & 1 == 0 else "sell"
                q = f"{qty // 1000}.{qty % 1000:03d}".rstrip("0").rstrip(".")
                rows.append(
                    f"binance-futures,BTCUSDT,{ts},{local},{trade_id},{side},{price // 10}.{price % 10},{q}\n"
                )
            chunk = "".join(rows)
            f.write(chunk)
            written += len(chunk)
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticktape", default="target/release/ticktape", help="the ticktape binary (default: %(default)s)")
    ap.add_argument("--mb", type=int, default=200, help="size of the generated CSV in MB (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each, interleaved (default: %(default)s)")
    ap.add_argument(
        "--threads", type=int, default=0, help="ticktape convert --threads (default: %(default)s, every core)"
    )
    ap.add_argument("--input", help="convert this Tardis trades CSV instead of a generated one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = ap.parse_args()

    try:
        import polars as pl
    except ImportError:
        sys.exit("polars is not installed: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install polars")
    if not os.path.exists(args.ticktape):
        sys.exit(f"{args.ticktape} not found: build it with `cargo build --release -p ticktape`")

    tmp = tempfile.mkdtemp(prefix="ticktape-vs-polars.")
    try:
        if args.input:
            csv = args.input
            size = os.path.getsize(csv)
        else:
            csv = os.path.join(tmp, "binance-futures_trades_2024-08-08_BTCUSDT.csv")
            t0 = time.perf_counter()
            size = generate(csv, args.mb * 1_000_000)
            print(f"generated {size / 1e6:.0f} MB trades CSV in {time.perf_counter() - t0:.1f}s")
        print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; polars {pl.__version__}, {pl.thread_pool_size()} threads")
        out = os.path.join(tmp, "out")
        cmd = [args.ticktape, "convert", "tardis", csv, "-o", out, "--quiet", "--threads", str(args.threads)]

        def cpu(who):
            r = resource.getrusage(who)
            return r.ru_utime + r.ru_stime

        def run_ticktape():
            shutil.rmtree(out, ignore_errors=True)
            c0, t0 = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(cmd, check=True)
            return time.perf_counter() - t0, cpu(resource.RUSAGE_CHILDREN) - c0

        def run_polars():
            c0, t0 = cpu(resource.RUSAGE_SELF), time.perf_counter()
            df = pl.read_csv(csv)
            dt, dc = time.perf_counter() - t0, cpu(resource.RUSAGE_SELF) - c0
            assert df.height > 0
            return dt, dc

        run_ticktape()
        run_polars()
        tt, tp, ct, cp, ratios = [], [], [], [], []
        mb = size / 1e6
        for i in range(args.runs):
            a, ca = run_ticktape()
            b, cb = run_polars()
            tt.append(a)
            tp.append(b)
            ct.append(ca)
            cp.append(cb)
            ratios.append(b / a)
            print(
                f"run {i + 1}: ticktape convert {mb / a:.0f} MB/s ({a:.3f}s wall, {ca:.3f}s CPU), "
                f"polars read_csv {mb / b:.0f} MB/s ({b:.3f}s wall, {cb:.3f}s CPU), ratio {b / a:.2f}"
            )
        mt, mp = statistics.median(tt), statistics.median(tp)
        mct, mcp = statistics.median(ct), statistics.median(cp)
        print(
            f"median of {args.runs}: ticktape convert {mb / mt:.0f} MB/s, polars read_csv {mb / mp:.0f} MB/s, "
            f"ratio ticktape/polars {mp / mt:.2f} (median of per-run ratios {statistics.median(ratios):.2f})"
        )
        # CPU time moves less than wall time on a shared machine: MB per CPU-second of each.
        print(
            f"CPU time, median: ticktape {mct:.3f}s ({mb / mct:.0f} MB per CPU-s), polars {mcp:.3f}s "
            f"({mb / mcp:.0f} MB per CPU-s), ratio {mcp / mct:.2f}"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
