use super::*;
use proptest::prelude::*;
use rand::SeedableRng;

/// One of each variant, and the degenerate forms the grammar allows.
fn zoo() -> Vec<DurationDist> {
    let mut e = Empirical::new();
    for (lo, hi, w) in [(1.0, 3.0, 1.5), (2.0, 2.0, 1.0), (2.5, 7.0, 0.5)] {
        e.push(lo, hi, w);
    }
    [
        "fixed:5",
        "fixed:0",
        "lognormal:6,0.5",
        "lognormal:20,0.8",
        "lognormal:6,0",
        "uniform:2,8",
        "uniform:3,3",
        "bimodal:0.01,6,0.5,60,0.5",
        "bimodal:0.3,2,0.2,2,0",
        "bimodal:0,6,0.5,60,0.5",
        "samples:1.5,2,7.25,2",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .chain([DurationDist::Empirical(e)])
    .collect()
}

#[test]
fn every_variant_parses_and_prints_round_trip() {
    for s in [
        "fixed:5",
        "lognormal:6,0.5",
        "uniform:2,8",
        "bimodal:0.01,6,0.5,60,0.5",
        "samples:1.5,2,7.25",
        "empirical:1,3,1.5;2,2,1",
    ] {
        let d: DurationDist = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("{s:?}"), "serde writes the spec");
        assert_eq!(serde_json::from_str::<DurationDist>(&json).unwrap(), d);
    }
    assert_eq!("5".parse(), Ok(DurationDist::Fixed(5.0)));
    assert_eq!(
        " LogNormal: 6 , 0.5 ".parse(),
        Ok(DurationDist::LogNormal {
            median: 6.0,
            sigma: 0.5
        })
    );
}

#[test]
fn bad_specs_are_refused_with_the_reason() {
    for (bad, reason) in [
        ("lognormal:6", "lognormal takes 2 argument(s)"),
        ("nope:1", "unknown kind"),
        ("fixed:-1", "arguments must be finite and non-negative"),
        ("fixed:inf", "arguments must be finite and non-negative"),
        ("fixed:x", "arguments must be numbers"),
        ("samples:", "samples needs at least one value"),
        ("uniform:3,1", "uniform needs low <= high"),
        (
            "bimodal:1.5,6,0.5,60,0.5",
            "the probability must be within 0..=1",
        ),
        ("empirical:", "empirical needs at least one piece"),
        ("empirical:1,2", "an empirical piece is LO,HI,WEIGHT"),
        (
            "empirical:3,1,1",
            "an empirical piece needs LO <= HI and a weight > 0",
        ),
        (
            "empirical:1,3,0",
            "an empirical piece needs LO <= HI and a weight > 0",
        ),
    ] {
        let err = bad.parse::<DurationDist>().unwrap_err();
        assert_eq!((err.input(), err.reason()), (bad, reason));
        assert!(err.to_string().contains("lognormal:6,0.5"), "{err}");
    }
    assert!(serde_json::from_str::<DurationDist>("\"lognormal:abc\"").is_err());
}

/// A non-negative finite number, of any magnitude.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        0.0f64..100.0,
        proptest::num::f64::NORMAL.prop_map(f64::abs),
    ]
}

fn any_dist() -> impl Strategy<Value = DurationDist> {
    let sorted = || (number(), number()).prop_map(|(a, b)| (a.min(b), a.max(b)));
    let piece = (sorted(), number().prop_filter("a weight", |w| *w > 0.0));
    prop_oneof![
        number().prop_map(DurationDist::Fixed),
        (number(), number()).prop_map(|(median, sigma)| DurationDist::LogNormal { median, sigma }),
        sorted().prop_map(|(low, high)| DurationDist::Uniform { low, high }),
        (0.0f64..=1.0, number(), number(), number(), number()).prop_map(|(p, fm, fs, sm, ss)| {
            DurationDist::Bimodal {
                p_slow: p,
                fast_median: fm,
                fast_sigma: fs,
                slow_median: sm,
                slow_sigma: ss,
            }
        }),
        proptest::collection::vec(number(), 1..12).prop_map(DurationDist::Samples),
        proptest::collection::vec(piece, 1..8).prop_map(|pieces| {
            let mut e = Empirical::new();
            for ((lo, hi), w) in pieces {
                e.push(lo, hi, w);
            }
            DurationDist::Empirical(e)
        }),
    ]
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_value(d in any_dist()) {
        prop_assert_eq!(d.to_string().parse::<DurationDist>(), Ok(d.clone()));
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<DurationDist>(&json).unwrap(), d);
    }
}

#[test]
fn quantile_inverts_the_cdf_for_every_variant() {
    for d in zoo() {
        for p in [0.0, 1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999] {
            let q = d.quantile(p);
            assert!(q.is_finite() && q >= 0.0, "{d}: quantile({p}) = {q}");
            // The smallest t with F(t) ≥ p: F reaches p there and not just before.
            assert!(d.cdf(q) >= p - 1e-6, "{d}: F({q}) = {} < {p}", d.cdf(q));
            let before = q - 1e-9 * (1.0 + q);
            assert!(
                d.cdf(before) <= p + 1e-6,
                "{d}: F({before}) = {} > {p}",
                d.cdf(before)
            );
        }
        assert_eq!(d.quantile(1.5), d.quantile(1.0), "{d}: p clamped");
    }
}

#[test]
fn cdf_and_partial_mean_agree_with_the_mean_for_every_variant() {
    for d in zoo() {
        let top = d.horizon(1e-9) * 4.0 + 1.0;
        assert!((d.cdf(top) - 1.0).abs() < 1e-6, "{d}: F({top})");
        let mean = d.mean();
        assert!(
            (d.partial_mean(top) - mean).abs() < 1e-4 * mean.max(1.0),
            "{d}: partial mean {} against mean {mean}",
            d.partial_mean(top)
        );
        let times: Vec<f64> = (0..200).map(|i| top * f64::from(i) / 200.0).collect();
        let (f, m) = d.tabulate(&times);
        for (k, &t) in times.iter().enumerate() {
            assert!(f[k] >= f[k.saturating_sub(1)], "{d}: F falls at {t}");
            assert!(m[k] <= t * f[k] + 1e-9, "{d}: E[T; T ≤ {t}] > t·F({t})");
        }
    }
}

#[test]
fn draws_follow_the_formulas_for_every_variant() {
    let n = 40_000;
    for d in zoo() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let draws: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!(
            (mean - d.mean()).abs() < 0.03 * d.mean().max(0.1),
            "{d}: mean of draws {mean} against {}",
            d.mean()
        );
        for p in [0.1, 0.5, 0.9] {
            let q = d.quantile(p);
            let seen = draws.iter().filter(|&&x| x <= q).count() as f64 / n as f64;
            assert!((seen - d.cdf(q)).abs() < 0.015, "{d}: {seen} ≤ {q}");
        }
    }
}

/// `DurationModel::sample` of bfl-sim before the two types became one (seed 42, eight draws,
/// then the next `u64` of the stream): the simulator's figures rest on these.
#[test]
fn draws_are_the_simulators_stream() {
    for (spec, draws, next) in FROZEN {
        let d: DurationDist = spec.parse().unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
        let got: Vec<f64> = (0..8).map(|_| d.sample(&mut rng)).collect();
        assert_eq!(got, draws, "{spec}");
        assert_eq!(
            rand::Rng::random::<u64>(&mut rng),
            next,
            "{spec}: draws used"
        );
    }
}

#[test]
fn lognormal_moments_match_closed_forms() {
    let d = DurationDist::LogNormal {
        median: 6.0,
        sigma: 0.5,
    };
    assert!((d.cdf(6.0) - 0.5).abs() < 1e-7);
    assert!((d.quantile(0.5) - 6.0).abs() < 1e-6);
    let mean = 6.0 * (0.125f64).exp();
    assert!((d.mean() - mean).abs() < 1e-9);
    assert!((d.partial_mean(1e6) - mean).abs() < 1e-6);
    // The partial mean grows by t·dF: check a small increment numerically.
    let (t, h) = (7.0, 1e-4);
    let dm = d.partial_mean(t + h) - d.partial_mean(t);
    let df = d.cdf(t + h) - d.cdf(t);
    assert!((dm / df - t).abs() < 1e-2, "{}", dm / df);
}

#[test]
fn a_bimodal_has_its_slow_tail() {
    let d: DurationDist = "bimodal:0.01,6,0.5,60,0.5".parse().unwrap();
    // 1 % slow: the 99.5th percentile is in the slow mode, the 95th in the fast one.
    assert!(d.quantile(0.995) > 40.0, "{}", d.quantile(0.995));
    assert!(d.quantile(0.95) < 15.0, "{}", d.quantile(0.95));
    let fast = "lognormal:6,0.5".parse::<DurationDist>().unwrap();
    let slow = "lognormal:60,0.5".parse::<DurationDist>().unwrap();
    for t in [3.0, 10.0, 60.0] {
        let mixed = 0.01 * slow.cdf(t) + 0.99 * fast.cdf(t);
        assert!((d.cdf(t) - mixed).abs() < 1e-15, "{t}");
    }
    assert!(d.horizon(1e-6) > 300.0);
}

#[test]
fn samples_are_a_step_function() {
    let d = DurationDist::Samples(vec![7.25, 1.5, 2.0, 2.0]);
    assert_eq!(d.cdf(1.0), 0.0);
    assert_eq!(d.cdf(2.0), 0.75);
    assert_eq!(d.quantile(0.3), 2.0);
    assert_eq!(d.quantile(0.75), 2.0);
    assert_eq!(d.quantile(0.76), 7.25);
    assert_eq!(d.horizon(1e-6), 7.25);
    assert_eq!(d.mean(), 12.75 / 4.0);
}

#[test]
fn lognormal_median_of_draws_is_close() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let d = DurationDist::LogNormal {
        median: 6.0,
        sigma: 0.5,
    };
    let mut v: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    assert!((median - 6.0).abs() < 0.15, "median {median}");
}

/// What the old sampler drew (`spec`, eight draws from `SmallRng` seed 42, the next `u64`).
const FROZEN: [(&str, [f64; 8], u64); 6] = [
    (
        "fixed:5",
        [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        15_021_278_609_987_233_951,
    ),
    (
        "lognormal:6,0.5",
        [
            5.2459470316799095,
            5.838818029656568,
            4.492780525536846,
            2.6834166841702043,
            13.48530616898481,
            8.236274508256429,
            8.931971009005442,
            3.1446111849594693,
        ],
        3_925_656_069_808_229_166,
    ),
    (
        "uniform:2,8",
        [
            6.885830870737459,
            3.9129262403699667,
            7.903365009064933,
            6.206813588808533,
            6.7610269381503745,
            5.528590798805357,
            2.7521146523764526,
            5.630734691943036,
        ],
        3_831_705_504_650_218_695,
    ),
    (
        "bimodal:0.3,6,0.5,60,0.5",
        [
            12.729337466949612,
            4.492780525536846,
            68.43796241159964,
            8.236274508256429,
            2.327456729260148,
            13.842390320460865,
            8.304848853544309,
            3.8026213073550004,
        ],
        15_049_620_252_834_538_899,
    ),
    (
        "samples:1.5,2,7.25",
        [7.25, 1.5, 7.25, 7.25, 7.25, 2.0, 1.5, 2.0],
        3_831_705_504_650_218_695,
    ),
    (
        "lognormal:6,0",
        [6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0],
        3_925_656_069_808_229_166,
    ),
];
