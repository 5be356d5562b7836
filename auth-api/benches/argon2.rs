//! One argon2id hash with the auth-api's own parameters: `just bench` uses
//! its median as "one hash's time" in the login-throughput bound.

use argon2::{PasswordHasher, password_hash::SaltString};
use criterion::{Criterion, criterion_group, criterion_main};

fn hash(c: &mut Criterion) {
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("a valid salt");
    let hasher = auth_api::passwords::argon2();
    let mut group = c.benchmark_group("argon2");
    // Each sample takes tens of milliseconds: few of them, still hundreds of hashes.
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| {
            hasher.hash_password(std::hint::black_box(b"correct horse battery staple"), &salt)
        })
    });
    group.finish();
}

criterion_group!(passwords, hash);
criterion_main!(passwords);
