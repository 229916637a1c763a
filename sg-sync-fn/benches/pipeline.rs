//! fetch-from-file + md5 + parse + filter + aggregate + plan on a real ip-ranges.json.
//!
//!     cargo bench -p sg-sync-fn --bench pipeline
//!
//! The snapshots are the committed ones (tests/fixtures/ip-ranges), or those of
//! `IP_RANGES_FIXTURES` (`test_support::ip_ranges`).
//!
//! Prints per-stage and end-to-end figures; the plan is made against groups already holding the
//! previous publication (2026-08-12), as a real notification would find them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Url;
use sg_sync::publication::{
    BorderGroups, FetchRanges, Fetcher, IpRanges, RangeSet, Selector, digest_and_parse, md5_hex,
};
use sg_sync::reconcile::{GroupState, Groups};
use sg_sync::rules::{Family, PortRange, Rule, Wanted};

const ITERATIONS: usize = 300;

fn selector() -> Selector {
    Selector {
        services: vec!["EC2".into()],
        regions: vec!["ap-northeast-1".into()],
        border_groups: BorderGroups::OwnRegion,
        ipv6: false,
    }
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<34} p50 {:>7.3} ms   mean {:>7.3} ms   min {:>7.3} ms   p99 {:>7.3} ms",
        ms(samples[samples.len() / 2]),
        ms(mean),
        ms(samples[0]),
        ms(samples[samples.len() * 99 / 100])
    );
}

fn time<T>(samples: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    samples.push(start.elapsed());
    out
}

fn main() {
    let fixtures = test_support::ip_ranges::fixtures();
    // A plain file, as the fetcher reads it: a committed snapshot is decompressed first.
    let file = |date: &str| -> PathBuf {
        let path = fixtures
            .snapshot_file(date)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let url = Url::from_file_path(file("2026-08-22")).unwrap();
    let expected_md5 = md5_hex(&fixtures.snapshot("2026-08-22").unwrap());
    let ports = [PortRange::tcp(3306)];

    // The groups as the previous publication left them.
    let previous = fixtures.snapshot("2026-08-12").unwrap();
    let previous = IpRanges::parse(&previous).unwrap();
    let prev_wanted =
        Wanted::new(&RangeSet::select(&previous, &selector()), &ports, "bench").unwrap();
    let mut groups = Groups {
        groups: vec![
            GroupState::new("sg-a"),
            GroupState::new("sg-b"),
            GroupState::new("sg-c"),
        ],
        quota: 60,
        families: &[Family::V4],
    };
    for (i, rule) in prev_wanted.rules.keys().enumerate() {
        groups.groups[i / 60].managed.push(Rule { ..*rule });
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetcher = Fetcher::new().unwrap();
    let (mut fetch, mut md5, mut parse, mut both, mut select, mut planning, mut total) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut size = 0;
    let mut counts = (0, 0, 0);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        let bytes = time(&mut fetch, || rt.block_on(fetcher.fetch(&url)).unwrap());
        let (digest, doc) = time(&mut both, || digest_and_parse(&bytes, true));
        assert_eq!(digest.as_deref(), Some(expected_md5.as_str()));
        let doc = doc.unwrap();
        let set = time(&mut select, || RangeSet::select(&doc, &selector()));
        let p = time(&mut planning, || {
            let wanted = Wanted::new(&set, &ports, "bench").unwrap();
            groups.plan(&wanted).unwrap()
        });
        total.push(start.elapsed());
        // Stage costs apart, for the record.
        time(&mut md5, || md5_hex(&bytes));
        time(&mut parse, || IpRanges::parse(&bytes).unwrap());
        size = bytes.len();
        counts = (doc.entries.len(), set.matched, set.len());
        let s = p.summary;
        assert_eq!((s.added(), s.removed()), (0, 0));
    }
    println!(
        "ip-ranges-2026-08-22.json: {size} bytes, {} prefixes; EC2 ap-northeast-1: {} matched, {} aggregated; {ITERATIONS} iterations",
        counts.0, counts.1, counts.2
    );
    summary("fetch (file://)", fetch);
    summary("md5 alone", md5);
    summary("parse + validate alone", parse);
    summary("md5 || parse (as a run does)", both);
    summary("filter + aggregate", select);
    summary("wanted + plan", planning);
    summary("total", total);
}
