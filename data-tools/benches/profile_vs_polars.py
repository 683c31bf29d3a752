#!/usr/bin/env python3
"""`ticktape research profile` (tiers 1-4) against polars computing tier 1 alone, on the same fills.

Generates a fills tape (`ticktape gen --fills N --accounts M`, 10 M fills of 100,000 accounts by
default), exports it to Parquet (`ticktape export`), then times, interleaved in one run:

- a whole `ticktape research profile TAPE -o DIR` process: read the tape, group by account,
  tier 1 (the notebook's aggregates), tier 2 (position cycles), tier 3 (daily PnL, Sharpe, ROI),
  tier 4 (classes), liquidation lists, and the four Parquet tables written;
- polars in this process: `read_parquet` of the exported fills plus tier 1 only, as the research
  notebook (001) computes it: the lifetime `group_by(account).agg(...)` and its derived columns,
  and the daily `group_by([account, day])`. Decimal columns are cast to Float64 first, as the
  notebook casts its strings.

Prints the wall and CPU times of both (median of --runs each, after one warm-up of each) and the
ratio polars / ticktape (above 1: ticktape is faster although it computes four tiers). Polars uses
every core; ticktape `--threads 0` too. CI does not run this: it needs polars, and timings are not
gates.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install polars
    cargo build --release -p ticktape
    /tmp/venv/bin/python data-tools/benches/profile_vs_polars.py --fills 10M --accounts 100k --runs 5
"""

import argparse
import os
import platform
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


def count(s):
    s = s.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(float(s))


def tier1(pl, path):
    """The notebook's tier 1 over the exported fills."""
    ms_per_day = 86_400_000
    fills = pl.read_parquet(path).with_columns(
        pl.col("price").cast(pl.Float64).alias("px"),
        pl.col("qty").cast(pl.Float64).alias("size"),
        pl.col("closed_pnl").cast(pl.Float64).fill_null(0).alias("pnl"),
        pl.col("fee").cast(pl.Float64).fill_null(0).alias("fee_num"),
        pl.col("ts").dt.epoch("ms").alias("time"),
    )
    fills = fills.with_columns((pl.col("px") * pl.col("size")).alias("notional"))
    stats = fills.group_by("account").agg(
        pl.len().alias("total_trades"),
        pl.col("notional").sum().alias("total_volume"),
        pl.col("symbol").n_unique().alias("unique_coins"),
        pl.col("time").min().alias("first_trade"),
        pl.col("time").max().alias("last_trade"),
        pl.col("pnl").sum().alias("realized_pnl"),
        pl.col("fee_num").sum().alias("fees_paid"),
        pl.col("crossed").mean().alias("taker_pct"),
        (pl.col("pnl") > 0).sum().alias("winning_fills"),
        (pl.col("pnl") < 0).sum().alias("losing_fills"),
        (pl.col("pnl") != 0).sum().alias("closing_fills"),
        pl.col("liquidation").sum().alias("liquidation_fills"),
        pl.col("twap").sum().alias("twap_fills"),
    )
    stats = stats.with_columns(
        (1 - pl.col("taker_pct")).alias("maker_pct"),
        (pl.col("realized_pnl") - pl.col("fees_paid")).alias("net_pnl"),
        (pl.col("winning_fills") / pl.col("closing_fills").cast(pl.Float64)).fill_null(0).alias("win_rate"),
        (pl.col("realized_pnl") / pl.col("total_volume")).alias("mtm_tv"),
        (pl.col("liquidation_fills") / pl.col("total_trades").cast(pl.Float64)).fill_null(0).alias("liquidation_pct"),
    )
    daily = (
        fills.with_columns((pl.col("time") // ms_per_day * ms_per_day).alias("day"))
        .group_by(["account", "day"])
        .agg(
            pl.len().alias("trades"),
            pl.col("notional").sum().alias("volume"),
            pl.col("pnl").sum().alias("daily_pnl"),
            pl.col("fee_num").sum().alias("daily_fees"),
        )
    )
    return stats, daily


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticktape", default="target/release/ticktape", help="the ticktape binary (default: %(default)s)")
    ap.add_argument("--fills", default="10M", help="fills to generate (default: %(default)s)")
    ap.add_argument("--accounts", default="100k", help="accounts to generate (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each, interleaved (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = ap.parse_args()

    try:
        import polars as pl
    except ImportError:
        sys.exit("polars is not installed: python3 -m venv /tmp/venv && /tmp/venv/bin/pip install polars")
    if not os.path.exists(args.ticktape):
        sys.exit(f"{args.ticktape} not found: build it with `cargo build --release -p ticktape`")

    tmp = tempfile.mkdtemp(prefix="ticktape-profile-vs-polars.")
    try:
        gen = os.path.join(tmp, "gen")
        subprocess.run(
            [args.ticktape, "gen", "--out", gen, "--fills", args.fills, "--accounts", args.accounts, "--quiet"],
            check=True,
        )
        tape = os.path.join(gen, "synthetic.all.fills.tape")
        parquet = os.path.join(tmp, "fills.parquet")
        subprocess.run([args.ticktape, "export", tape, "-o", parquet, "--quiet"], check=True)
        n = count(args.fills)
        print(
            f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; polars {pl.__version__}, "
            f"{pl.thread_pool_size()} threads; {n:,} fills, {count(args.accounts):,} accounts; "
            f"tape {os.path.getsize(tape) / 1e6:.0f} MB, Parquet {os.path.getsize(parquet) / 1e6:.0f} MB"
        )
        out = os.path.join(tmp, "out")
        cmd = [args.ticktape, "research", "profile", tape, "-o", out, "--force", "--quiet"]

        def cpu(who):
            r = resource.getrusage(who)
            return r.ru_utime + r.ru_stime

        def run_ticktape():
            c0, t0 = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - t0, cpu(resource.RUSAGE_CHILDREN) - c0

        def run_polars():
            c0, t0 = cpu(resource.RUSAGE_SELF), time.perf_counter()
            stats, daily = tier1(pl, parquet)
            dt, dc = time.perf_counter() - t0, cpu(resource.RUSAGE_SELF) - c0
            assert stats.height > 0 and daily.height > 0
            return dt, dc, stats

        run_ticktape()
        _, _, stats = run_polars()
        # The two agree on tier 1 (a spot check of the totals).
        prof = pl.read_parquet(os.path.join(out, "profiles.parquet"))
        assert prof.height == stats.height, (prof.height, stats.height)
        for a, b in [("trades", "total_trades"), ("volume", "total_volume"), ("realized_pnl", "realized_pnl")]:
            x, y = float(prof[a].sum()), float(stats[b].sum())
            assert abs(x - y) <= 1e-6 * (1 + abs(y)), (a, x, y)
        tt, tp, ct, cp, ratios = [], [], [], [], []
        for i in range(args.runs):
            a, ca = run_ticktape()
            b, cb, _ = run_polars()
            tt.append(a)
            tp.append(b)
            ct.append(ca)
            cp.append(cb)
            ratios.append(b / a)
            print(
                f"run {i + 1}: ticktape profile (tiers 1-4 + tables) {a:.2f}s wall, {ca:.2f}s CPU; "
                f"polars tier 1 from Parquet {b:.2f}s wall, {cb:.2f}s CPU; ratio {b / a:.2f}"
            )
        mt, mp = statistics.median(tt), statistics.median(tp)
        mct, mcp = statistics.median(ct), statistics.median(cp)
        print(
            f"median of {args.runs}: ticktape {mt:.2f}s ({n / mt / 1e6:.2f} M fills/s), polars tier 1 {mp:.2f}s; "
            f"ratio polars/ticktape {mp / mt:.2f} (median of per-run ratios {statistics.median(ratios):.2f}); "
            f"CPU ticktape {mct:.2f}s, polars {mcp:.2f}s, ratio {mcp / mct:.2f}"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
