"""Generates reference.json for the ticktape-research tests from scikit-learn and scipy.

Run once (versions are recorded in the JSON):
    python3 -m venv target/refvenv && target/refvenv/bin/pip install scikit-learn scipy numpy
    target/refvenv/bin/python data-tools/research/tests/reference/make_reference.py
"""
import json, os
import numpy as np, scipy, sklearn
from scipy.stats import mannwhitneyu
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score, roc_auc_score

rng = np.random.default_rng(20261203)
out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}}

def design(n, p, collinear=False):
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(size=p)
    if collinear:
        x[:, 1] = 2.0 * x[:, 0] + 0.5
        x[:, 3] = x[:, 2]
    w = np.zeros(p); w[:3] = [1.5, -2.0, 0.7]
    y = x @ w + 0.3 + rng.normal(scale=0.5, size=n)
    return x, y

enet = []
cases = {}
for name, n, p, coll in [("plain", 60, 6, False), ("collinear", 50, 5, True), ("wide", 20, 30, False)]:
    x, y = design(n, p, coll)
    cases[name] = {"x": x.ravel().tolist(), "p": p, "y": y.tolist()}
    for l1 in [1.0, 0.5, 0.1]:
        if coll and l1 == 1.0:
            continue  # the Lasso has no unique solution with duplicated columns
        for std in [True, False]:
            for alpha in [0.01, 0.1, 0.5]:
                xs = x
                if std:
                    sd = x.std(axis=0); sd[sd == 0] = 1.0
                    xs = (x - x.mean(axis=0)) / sd
                m = ElasticNet(alpha=alpha, l1_ratio=l1, tol=1e-12, max_iter=1_000_000).fit(xs, y)
                coef = m.coef_ / sd if std else m.coef_
                icpt = y.mean() - x.mean(axis=0) @ coef
                enet.append({"case": name, "l1_ratio": l1,
                             "standardize": std, "alpha": alpha, "coef": coef.tolist(), "intercept": float(icpt)})
out["enet_cases"] = cases
out["enet"] = enet

km = []
for k, d, n in [(3, 2, 300), (5, 6, 1000)]:
    x = rng.normal(size=(n, d)) + rng.integers(0, k, size=n)[:, None] * 0.8 * rng.normal(size=(1, d))
    inertia = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x).inertia_
    km.append({"k": k, "d": d, "x": x.ravel().tolist(), "inertia": float(inertia)})
out["kmeans"] = km

x = rng.normal(size=(40, 3)); labels = rng.integers(0, 3, size=40)
out["silhouette"] = {"d": 3, "x": x.ravel().tolist(), "labels": labels.tolist(), "score": float(silhouette_score(x, labels))}

mw = []
for a, b in [(rng.normal(size=6), rng.normal(size=7) + 0.8),           # exact
             (rng.normal(size=3), rng.normal(size=30)),                   # exact, unbalanced
             (rng.normal(size=25), rng.normal(size=30) + 0.4),          # asymptotic, no ties
             (rng.integers(0, 5, size=6).astype(float), rng.integers(0, 5, size=7).astype(float)),  # small, tied
             (rng.integers(0, 8, size=40).astype(float), rng.integers(1, 9, size=35).astype(float))]:  # tied
    r = mannwhitneyu(a, b)
    mw.append({"x": a.tolist(), "y": b.tolist(), "u": float(r.statistic), "p": float(r.pvalue)})
out["mannwhitney"] = mw

x = rng.normal(size=(200, 4)); z = x @ np.array([1.0, -0.5, 0.0, 2.0]) - 0.3
y = rng.uniform(size=200) < 1 / (1 + np.exp(-z))
m = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(x, y)
scores = m.decision_function(x)
out["logistic"] = {"p": 4, "x": x.ravel().tolist(), "y": y.tolist(), "coef": m.coef_[0].tolist(),
                   "intercept": float(m.intercept_[0]), "auc": float(roc_auc_score(y, scores)),
                   "accuracy": float(m.score(x, y))}

# ClusterLOB: a real feature table, the z-columns of the first 2,500 trades of the shipped sample
# (`ticktape convert binance-ws engine/cli/examples/data/binance-futures_btcusdt_20240808_2min.gz -o sample`, then
# `ticktape research clusterlob features sample/*.tape -o feat`, columns z_v_rel..z_t_age of
# features-2024-08-08.parquet written with 10 significant digits to clusterlob_z.csv). Best of 10
# k-means++ initialisations, as the fidelity bar states, for k = 2..5.
zx = np.loadtxt(os.path.join(os.path.dirname(__file__), "clusterlob_z.csv"), delimiter=",", skiprows=1)
out["clusterlob_kmeans"] = [
    {"k": k, "rows": int(zx.shape[0]), "inertia": float(KMeans(n_clusters=k, n_init=10, random_state=0).fit(zx).inertia_)}
    for k in [2, 3, 4, 5]
]

with open(os.path.join(os.path.dirname(__file__), "reference.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
