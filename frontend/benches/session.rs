//! Micro-benchmarks of what every page view pays: opening (and sealing) the
//! session cookie, verifying the access token (cold: the signature; cached:
//! a verified token seen before), and the guard's whole decision: on a
//! cookie it has seen (the fast path every page view after the first takes)
//! and on one it has not. `just bench` copies the medians into BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use frontend::session::{AuthState, guard::decide};

// Shared with the guard's tests, which use more of it.
#[path = "../tests/support/guard_fixture.rs"]
#[allow(dead_code)]
mod fixture;

use fixture::{NOW, fixture, ready};

fn benches(c: &mut Criterion) {
    let f = fixture();
    let expected = f.state.expected();

    let mut cookie = c.benchmark_group("cookie");
    cookie.bench_function("seal", |b| b.iter(|| f.state.codec.seal(black_box(&f.cookie), NOW)));
    cookie.bench_function("open", |b| {
        b.iter(|| f.state.codec.open_from_headers(std::iter::once(black_box(&*f.cookie_header))))
    });
    cookie.finish();

    let mut verify = c.benchmark_group("verify");
    // Cold: the signature check itself, as on a token this process has not seen.
    verify.bench_function("cold", |b| {
        b.iter(|| {
            f.state.jwks.verify_uncached(black_box(&f.cookie.access_token), expected, NOW).unwrap()
        })
    });
    verify.bench_function("cached", |b| {
        b.iter(|| f.state.jwks.verify(black_box(&f.cookie.access_token), expected, NOW).unwrap())
    });
    verify.finish();

    let mut guard = c.benchmark_group("guard");
    guard.bench_function("fast_path", |b| {
        b.iter(|| {
            let (auth, _) =
                ready(decide(&f.state, &f.client, std::iter::once(black_box(&*f.cookie_header))));
            assert!(matches!(auth, AuthState::SignedIn(_)));
        })
    });
    // A cookie this process has not opened yet (its token verified before):
    // open it, check the token, remember the cookie.
    let digest = frontend::session::known::digest(
        f.state.codec.find(std::iter::once(&*f.cookie_header)).expect("the cookie").value(),
    );
    guard.bench_function("first_view", |b| {
        b.iter(|| {
            f.state.known.forget(&digest);
            let (auth, _) =
                ready(decide(&f.state, &f.client, std::iter::once(black_box(&*f.cookie_header))));
            assert!(matches!(auth, AuthState::SignedIn(_)));
        })
    });
    guard.finish();
}

criterion_group!(session, benches);
criterion_main!(session);
