"""Builds the hftbacktest fixture from the real Binance USD-M capture.

Usage (from the repository root; needs `pip install hftbacktest==2.4.4 numpy`):

    python data-tools/tests/data/hftbacktest/make_npz.py \
        ../shared/data/real/hftbacktest/usdm_btcusdt_20240808.gz \
        data-tools/tests/data/hftbacktest/usdm_btcusdt_20240808_head.npz

Runs hftbacktest's documented converter for Binance Futures captures
(`hftbacktest.data.utils.binancefutures.convert`, which snaps prices to
float64 and corrects the event order) over the whole capture, then keeps the
events whose exchange time falls in the first WINDOW_S seconds after the
first event, so the fixture stays small. The slice is written with
`np.savez_compressed(out, data=...)`, the layout hftbacktest itself writes.
"""

import sys

import numpy as np
from hftbacktest.data.utils import binancefutures

WINDOW_S = 30


def main(src: str, out: str) -> None:
    data = binancefutures.convert(src, combined_stream=True)
    t0 = data["exch_ts"][data["exch_ts"] > 0].min()
    keep = data[data["exch_ts"] < t0 + WINDOW_S * 1_000_000_000]
    np.savez_compressed(out, data=keep)
    print(f"{len(data)} events converted, {len(keep)} kept (exch_ts < first + {WINDOW_S}s) -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
