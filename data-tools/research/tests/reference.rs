//! Agreement with scikit-learn and scipy on committed reference values (`reference/reference.json`,
//! made by `reference/make_reference.py`; no Python needed to run these tests).

use serde_json::Value;
use ticktape_research::{enet, kmeans, logistic, stats};

fn reference() -> Value {
    serde_json::from_str(include_str!("reference/reference.json")).expect("reference.json parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn elastic_net_coefficients_match_sklearn_within_1e_6() {
    let r = reference();
    let cases = &r["enet_cases"];
    let mut checked = 0;
    for f in r["enet"].as_array().unwrap() {
        let case = &cases[f["case"].as_str().unwrap()];
        let (x, y, p) = (floats(&case["x"]), floats(&case["y"]), case["p"].as_u64().unwrap() as usize);
        let opts = enet::ElasticNet {
            alpha: f["alpha"].as_f64().unwrap(),
            l1_ratio: f["l1_ratio"].as_f64().unwrap(),
            standardize: f["standardize"].as_bool().unwrap(),
            tol: 1e-12,
            max_iter: 1_000_000,
        };
        let fit = enet::fit(&x, p, &y, &opts).unwrap();
        assert!(fit.converged, "{f:?}");
        for (j, (a, b)) in fit.coef.iter().zip(floats(&f["coef"])).enumerate() {
            assert!((a - b).abs() < 1e-6, "case {} {opts:?} coef {j}: ours {a}, sklearn {b}", f["case"]);
        }
        let icpt = f["intercept"].as_f64().unwrap();
        assert!(
            (fit.intercept - icpt).abs() < 1e-6,
            "case {} {opts:?} intercept {} vs {icpt}",
            f["case"],
            fit.intercept
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} reference fits");
}

#[test]
fn kmeans_inertia_within_0_1_percent_of_sklearn_best_of_10() {
    let r = reference();
    for c in r["kmeans"].as_array().unwrap() {
        let (k, d, x) = (c["k"].as_u64().unwrap() as usize, c["d"].as_u64().unwrap() as usize, floats(&c["x"]));
        let ours = kmeans::kmeans(&x, d, &kmeans::KMeans { k, seed: 7, ..Default::default() }).unwrap();
        let theirs = c["inertia"].as_f64().unwrap();
        assert!(ours.inertia <= theirs * 1.001, "k={k}: ours {} sklearn {theirs}", ours.inertia);
    }
}

#[test]
fn silhouette_matches_sklearn_within_1e_9() {
    let r = reference();
    let s = &r["silhouette"];
    let labels: Vec<usize> = s["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let ours = kmeans::silhouette(&floats(&s["x"]), 3, &labels).unwrap();
    let theirs = s["score"].as_f64().unwrap();
    assert!((ours - theirs).abs() < 1e-9, "ours {ours} sklearn {theirs}");
}

#[test]
fn mann_whitney_matches_scipy_within_1e_9_tied_and_untied() {
    let r = reference();
    let cases = r["mannwhitney"].as_array().unwrap();
    let mut exact = 0;
    for c in cases {
        let m = stats::mann_whitney_u(&floats(&c["x"]), &floats(&c["y"])).unwrap();
        exact += m.exact as usize;
        assert!((m.u - c["u"].as_f64().unwrap()).abs() < 1e-9, "{c:?}: U {}", m.u);
        let p = c["p"].as_f64().unwrap();
        assert!((m.p - p).abs() < 1e-9, "x={} y={}: ours p {} scipy {p}", c["x"], c["y"], m.p);
    }
    assert_eq!(exact, 2, "two reference cases use the exact distribution");
}

#[test]
fn logistic_matches_sklearn_within_1e_5_with_auc_and_accuracy() {
    let r = reference();
    let l = &r["logistic"];
    let x = floats(&l["x"]);
    let y: Vec<bool> = l["y"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
    let fit = logistic::fit(&x, 4, &y, &logistic::Logistic::default()).unwrap();
    assert!(fit.converged);
    for (a, b) in fit.coef.iter().zip(floats(&l["coef"])) {
        assert!((a - b).abs() < 1e-5, "coef ours {a} sklearn {b}");
    }
    assert!((fit.intercept - l["intercept"].as_f64().unwrap()).abs() < 1e-5);
    let scores: Vec<f64> = x.chunks(4).map(|row| fit.predict_proba(row)).collect();
    let auc = logistic::roc_auc(&y, &scores).unwrap();
    assert!((auc - l["auc"].as_f64().unwrap()).abs() < 1e-12, "auc {auc}");
    let pred: Vec<bool> = scores.iter().map(|s| *s > 0.5).collect();
    assert_eq!(logistic::accuracy(&y, &pred).unwrap(), l["accuracy"].as_f64().unwrap());
}

/// The ClusterLOB model's fit (default options: 10 k-means++ restarts, seed 0) on a real feature table
/// reaches scikit-learn's best-of-10 inertia within 0.1 % (or beats it).
#[test]
fn clusterlob_inertia_within_0_1_percent_of_sklearn_on_a_real_feature_table() {
    use ticktape_research::clusterlob::{FitOptions, Model};
    let text = include_str!("reference/clusterlob_z.csv");
    let z: Vec<f64> = text
        .lines()
        .skip(1)
        .flat_map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>())
        .collect();
    let r = reference();
    let cases = r["clusterlob_kmeans"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let k = c["k"].as_u64().unwrap() as usize;
        assert_eq!(z.len(), c["rows"].as_u64().unwrap() as usize * 6);
        let m = Model::fit(&z, &FitOptions { k, ..FitOptions::default() }, 5, 100).unwrap();
        let theirs = c["inertia"].as_f64().unwrap();
        assert!(m.inertia <= theirs * 1.001, "k={k}: ours {} sklearn {theirs}", m.inertia);
        eprintln!("k={k}: ours {:.6} sklearn {theirs:.6} ratio {:.6}", m.inertia, m.inertia / theirs);
    }
}
