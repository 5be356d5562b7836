//! argon2id with the auth-api's own parameters. `just bench` uses
//! `argon2/hash` (one hash, alone) as "one hash's time" in the login bound,
//! and `argon2/hash_on_every_core` (one hash per core, all at once: the time
//! of the whole round) to show what the cores deliver when they hash together.
//! argon2id is memory-hard, so cores that share caches or memory bandwidth
//! (or vCPUs that share a physical core) do not each keep their lone speed.

use argon2::{PasswordHasher, password_hash::SaltString};
use criterion::{Criterion, criterion_group, criterion_main};

const PASSWORD: &[u8] = b"correct horse battery staple";

fn hash(c: &mut Criterion) {
    let salt = SaltString::encode_b64(b"sixteen byte salt").expect("a valid salt");
    let hasher = auth_api::passwords::argon2();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut group = c.benchmark_group("argon2");
    // Each sample takes tens of milliseconds: few of them, still hundreds of hashes.
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| hasher.hash_password(std::hint::black_box(PASSWORD), &salt))
    });
    group.bench_function("hash_on_every_core", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for _ in 0..cores {
                    scope.spawn(|| hasher.hash_password(std::hint::black_box(PASSWORD), &salt));
                }
            })
        })
    });
    group.finish();
}

criterion_group!(passwords, hash);
criterion_main!(passwords);
