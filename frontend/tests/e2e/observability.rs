//! The metrics operators read: after a sign-in, a refresh and a sign-out,
//! both servers export every metric the dashboard and the alert rules in
//! `docs/operations/` name (no dangling names), and the counters moved.

use std::collections::BTreeSet;

use awc::http::StatusCode;

use crate::harness::{Options, Stack, spawn_with_notes};

/// The families of a Prometheus text exposition, as the sample names a
/// query may use (`x_total` of a counter, `x_bucket` of a histogram…).
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    names
}

/// The label names each selector of a PromQL expression matches on, by
/// metric: `a{b="1", c=~"x"}` → (`a`, `b`), (`a`, `c`).
fn matched_labels(expr: &str) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let name: String = rest[..open]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let close = open + rest[open..].find('}').expect("a closed selector");
        for matcher in rest[open + 1..close].split(',') {
            let label = matcher.split(['=', '!']).next().unwrap_or_default().trim();
            if !label.is_empty() {
                pairs.insert((name.clone(), label.to_owned()));
            }
        }
        rest = &rest[close + 1..];
    }
    pairs
}

/// The metric names in a PromQL expression: identifiers that are not
/// functions (followed by `(`), keywords, label names (inside `{…}` or a
/// `by (…)`) or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        // Aggregations, which may take `by (…)` before their parentheses.
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    // Label matchers and grouping lists hold label names, not metrics.
    let mut plain = String::new();
    let mut depth = 0;
    for c in expr.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    let chars: Vec<char> = plain.chars().collect();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // A string (a quantile's label value, say): skip it.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if KEYWORDS.contains(&word.as_str()) {
                after_grouping = matches!(word.as_str(), "by" | "without" | "on" | "ignoring");
                continue;
            }
            if next != Some(&'(') {
                names.insert(word);
            }
            continue;
        }
        if c == '(' && after_grouping {
            // `by (job, le)`: skip the label list.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            after_grouping = false;
        } else if c.is_ascii_digit() {
            // A number or a duration (`5m`, `1d`).
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    names
}

/// Every `expr` of the alert rules and the dashboard.
fn queries() -> Vec<String> {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations");
    let rules = std::fs::read_to_string(docs.join("alerts.yml")).expect("alerts.yml");
    let mut queries = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(expr) = line.trim_start().strip_prefix("expr:") else { continue };
        let expr = expr.trim();
        if expr == "|" {
            // A block: the lines indented deeper than `expr:`.
            let indent = line.len() - line.trim_start().len();
            let mut block = String::new();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() || next.len() - next.trim_start().len() <= indent {
                    break;
                }
                block.push_str(lines.next().unwrap().trim());
                block.push(' ');
            }
            queries.push(block);
        } else {
            queries.push(expr.to_owned());
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(docs.join("grafana-dashboard.json")).expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queries.push(target["expr"].as_str().expect("an expr").to_owned());
        }
    }
    queries
}

async fn scrape(base: &str) -> String {
    let mut res = awc::Client::default().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    String::from_utf8(res.body().limit(1 << 22).await.unwrap().to_vec()).unwrap()
}

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A sign-in, a page, a call through the proxy to the notes app (a token
/// exchange and an upstream request), a refresh, a sign-out.
async fn a_visit(stack: &Stack) {
    stack.add_user("alice", &[]).await;
    let browser = stack.browser();
    browser.sign_in_ok("alice").await;
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK);
    let notes =
        browser.request(awc::http::Method::GET, "/notes-api/notes").insert_header(("x-csrf", "1"));
    let notes = notes.send();
    let notes = browser.finish(notes.await).await;
    assert_eq!(notes.status, StatusCode::OK, "{}", notes.body);
    // Last: the notes app reads the real clock, the servers this one.
    stack.clock.advance(301);
    assert_eq!(browser.get("/profile").await.status, StatusCode::OK, "refreshed");
    browser.sign_out().await;
    for server in [&stack.front_base, &stack.auth_base] {
        assert_eq!(
            awc::Client::default().get(format!("{server}/readyz")).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
}

#[actix_web::test]
async fn every_metric_the_dashboard_and_alerts_name_is_exported() {
    let (stack, _dir) = spawn_with_notes(Options::default()).await;
    a_visit(&stack).await;
    let front = scrape(&stack.front_metrics).await;
    let auth = scrape(&stack.auth_metrics).await;
    let exported: BTreeSet<String> = exported(&front).into_iter().chain(exported(&auth)).collect();

    let queries = queries();
    assert!(queries.len() >= 20, "{} queries read", queries.len());
    let mut named = BTreeSet::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "no metric found in {query}");
        named.extend(names);
    }
    // `up` is Prometheus's own, one per scraped target.
    let dangling: Vec<_> = named.difference(&exported).filter(|n| *n != "up").collect();
    assert!(dangling.is_empty(), "named but not exported: {dangling:?}\nexported: {exported:?}");
    // Every label a query matches on is one the metric has (`job` and
    // `instance` are Prometheus's, given to every series it scrapes).
    let samples: Vec<&str> =
        front.lines().chain(auth.lines()).filter(|l| !l.starts_with('#')).collect();
    for query in &queries {
        for (metric, label) in matched_labels(query) {
            if ["job", "instance"].contains(&label.as_str()) || metric == "up" {
                continue;
            }
            let has = samples.iter().any(|s| {
                s.strip_prefix(metric.as_str())
                    .and_then(|rest| rest.strip_prefix('{'))
                    .is_some_and(|labels| labels.contains(&format!("{label}=\"")))
            });
            assert!(has, "{query}: {metric} has no label {label:?}");
        }
    }

    // And they measured what happened.
    assert!(sample(&front, r#"guard_decisions_total{outcome="refreshed"}"#) >= 1.0, "{front}");
    assert!(sample(&front, r#"guard_decisions_total{outcome="anonymous"}"#) >= 1.0, "{front}");
    assert!(sample(&front, r#"refresh_calls_total{result="ok"}"#) >= 1.0, "{front}");
    assert!(sample(&front, "revocation_feed_last_answer_timestamp_seconds") > 0.0, "{front}");
    assert_eq!(sample(&front, "ready"), 1.0);
    assert!(
        sample(&auth, r#"grant_duration_seconds_count{grant_type="refresh_token"}"#) >= 1.0,
        "{auth}"
    );
    assert!(
        sample(&auth, r#"grant_duration_seconds_count{grant_type="password"}"#) >= 1.0,
        "{auth}"
    );
    assert_eq!(sample(&auth, r#"logins_total{result="ok"}"#), 1.0);
    assert_eq!(sample(&auth, "ready"), 1.0);
    let forwarded = r#"upstream_requests_total{upstream="/notes-api",status="200"}"#;
    assert_eq!(sample(&front, forwarded), 1.0, "{front}");
}

#[test]
fn matched_labels_are_read_from_selectors() {
    let q = r#"sum(rate(a_total{job=~"c-.*", status=~"5..", route!~"/x|y"}[5m])) / b{le="1"}"#;
    let pairs: Vec<(String, String)> = matched_labels(q).into_iter().collect();
    let expected = [("a_total", "job"), ("a_total", "route"), ("a_total", "status"), ("b", "le")];
    assert_eq!(pairs, expected.map(|(m, l)| (m.to_owned(), l.to_owned())));
}

#[test]
fn metric_names_are_read_from_promql() {
    let q = r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="x"}[5m])))"#;
    assert_eq!(
        metric_names(q).into_iter().collect::<Vec<_>>(),
        ["http_request_duration_seconds_bucket"]
    );
    let q = "time() - revocation_feed_last_answer_timestamp_seconds > 60";
    assert_eq!(
        metric_names(q).into_iter().collect::<Vec<_>>(),
        ["revocation_feed_last_answer_timestamp_seconds"]
    );
    let q =
        "sum(rate(a_total[5m])) / sum by (job) (rate(b_total[1h] offset 1d)) > 0.02 and on (job) c";
    assert_eq!(metric_names(q).into_iter().collect::<Vec<_>>(), ["a_total", "b_total", "c"]);
    assert!(
        exported("# TYPE x counter\n# TYPE y histogram\n# TYPE z gauge\n").contains("y_bucket")
    );
}
