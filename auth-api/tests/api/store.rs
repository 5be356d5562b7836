//! The storage contract: every behaviour the service relies on, run against
//! both backends (`store::sqlite::*` and `store::postgres::*`), including the
//! races that several instances on one database produce.

use std::collections::HashSet;

use auth_api::{
    domain::{EndReason, Username},
    store::{
        Ceremony, CodesUnderKey, EventFilter, FactorAdded, FirstRefresh, KeyRetirement, Liveness,
        NewEvent, NewFactor, NewSession, NewUser, PasskeyRecord, PendingFailure, PendingSignIn,
        RemovedFactor, Reseal, Rotate, Store, UserChange,
    },
    tokens::keys,
};
use shared::{Revocation, Role};
use tokio::task::JoinSet;

/// Each behaviour below, once per backend. The PostgreSQL runs need
/// `TEST_POSTGRES_URL` (see `helpers::TestDb::postgres`).
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::helpers::TestDb::sqlite();
                    super::$name(db.store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
                    super::$name(db.store().await).await;
                }
            )*
        }
    };
}

contract! {
    users_are_created_once_found_and_listed_in_byte_order,
    user_activity_counts_only_live_sessions,
    sessions_are_touched_forward_only_and_listed_while_live,
    a_refresh_token_is_found_with_its_session_and_user,
    rotation_replaces_a_generation_once_and_not_in_an_ended_session,
    concurrent_rotations_of_one_generation_produce_exactly_one_successor,
    rotations_of_different_sessions_in_one_batch_all_apply,
    a_sign_in_beyond_the_limit_supersedes_the_oldest_sessions,
    ended_sessions_are_published_once_in_cursor_order,
    a_reader_following_the_cursor_during_concurrent_ends_sees_each_end_once,
    racing_first_starts_insert_exactly_one_signing_key,
    key_rotation_retires_the_old_key_and_drops_its_private_half,
    concurrent_key_rotations_leave_exactly_one_current_key,
    a_key_cut_off_leaves_the_ring_at_once_and_the_feed_names_it,
    every_epoch_renewal_gives_the_feed_a_new_epoch,
    failures_are_counted_per_key_and_windows_start_over,
    concurrent_failures_are_all_counted,
    prune_deletes_only_what_can_no_longer_matter,
    remembered_and_browser_sessions_idle_out_on_their_own_clocks,
    a_password_change_ends_every_other_session_and_refreshes_auth_time,
    audit_events_are_filtered_and_paged_newest_first,
    the_last_active_admin_cannot_be_disabled_demoted_or_deleted,
    concurrent_demotions_leave_an_admin,
    disabling_and_deleting_end_sessions_and_role_changes_make_them_stale,
    a_totp_key_is_confirmed_once_and_each_step_accepted_once,
    recovery_codes_are_spent_once_and_replaced_whole,
    pending_sign_ins_take_a_bounded_number_of_attempts_and_are_taken_once,
    resetting_second_factors_removes_them_all_and_ends_the_sessions,
    passkeys_are_registered_once_used_and_removed_with_their_codes,
    a_webauthn_ceremony_answers_once_for_its_purpose,
    mfa_rekey_pages_through_app_keys_reseals_conditionally_and_counts_codes_per_key,
}

const NOW: i64 = 1_800_000_000;

async fn user(store: &Store, name: &str) -> String {
    let new = NewUser {
        username: Username::parse(name).unwrap(),
        password_hash: format!("hash-of-{name}"),
        roles: vec![Role::Admin, Role::User],
        now: NOW - 1000,
        password_change_required: false,
    };
    store.create_user(new).await.unwrap().expect("a new user").id
}

/// A "remember me" session of `user_id` started at `now`, with refresh token `hash`.
async fn session(store: &Store, user_id: &str, now: i64, hash: &[u8]) -> String {
    let new = new_session(user_id, now);
    let password_hash = format!("hash-of-{}", name_of(store, user_id).await);
    assert!(
        store
            .create_session(&new, first(hash), &password_hash, &signed_in(&new))
            .await
            .unwrap()
            .is_some()
    );
    new.id
}

/// A first refresh token with hash `hash` (and a family of its own).
fn first(hash: &[u8]) -> FirstRefresh<'_> {
    FirstRefresh { hash, family: b"family" }
}

/// A rotation of `session_id` from the token hashed `from` at `generation`
/// to one hashed `to`, with no idle limit.
fn rotate(session_id: &str, generation: i64, from: &[u8], to: &[u8], now: i64) -> Rotate {
    Rotate {
        session_id: session_id.to_owned(),
        generation,
        current: from.to_vec(),
        hash: to.to_vec(),
        sealed: [b"sealed-", to].concat(),
        family: None,
        live: Liveness { now, idle_cutoff: 0, remember_idle_cutoff: 0 },
    }
}

/// The name of user `id` (test users' password hashes are `hash-of-NAME`).
async fn name_of(store: &Store, id: &str) -> String {
    store.find_user_by_id(id).await.unwrap().expect("a user").username
}

/// The audit event a sign-in writes with its session.
fn signed_in(session: &NewSession) -> NewEvent {
    NewEvent {
        at: session.now,
        kind: "sign_in",
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        ..NewEvent::default()
    }
}

fn new_session(user_id: &str, now: i64) -> NewSession {
    NewSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        now,
        expires_at: now + 3600,
        remember: true,
        user_agent: Some("Firefox".into()),
        ip: Some("203.0.113.7".into()),
        amr: vec!["pwd".into()],
        live_limit: 50,
        revoked_until: now + 300,
        live: live_at(now),
    }
}

/// Sessions idle out after 600 s, "remember me" sessions too (the tests
/// below that care about the difference say so).
fn live_at(now: i64) -> Liveness {
    Liveness { now, idle_cutoff: now - 600, remember_idle_cutoff: now - 600 }
}

/// Every revocation after `cursor` (expired ones included), following the
/// cursor page by page; and the final cursor.
async fn read_feed(store: &Store, mut cursor: i64) -> (Vec<String>, i64) {
    let mut seen = Vec::new();
    loop {
        let (page, next) = store.revocations_after(cursor, i64::MIN, 7).await.unwrap();
        if next == cursor {
            return (seen, cursor);
        }
        seen.extend(page.into_iter().map(|r| r.sid));
        cursor = next;
    }
}

async fn users_are_created_once_found_and_listed_in_byte_order(store: Store) {
    // Byte order puts '_' before 'a'; a locale-aware order would not.
    let ab = user(&store, "ab").await;
    user(&store, "aa").await;
    user(&store, "a_b").await;
    let taken = NewUser {
        username: Username::parse("AB").unwrap(),
        password_hash: "other".into(),
        roles: vec![Role::User],
        now: NOW,
        password_change_required: false,
    };
    assert!(store.create_user(taken).await.unwrap().is_none(), "usernames are unique");

    let found = store.find_user_by_name(&Username::parse("ab").unwrap()).await.unwrap().unwrap();
    assert_eq!(found.id, ab);
    assert_eq!(found.roles, vec![Role::Admin, Role::User]);
    assert_eq!(found.password_hash, "hash-of-ab");
    assert_eq!(found.created_at, NOW - 1000);
    assert_eq!(store.find_user_by_id(&ab).await.unwrap().unwrap().username, "ab");
    assert!(store.find_user_by_id("nobody").await.unwrap().is_none());

    let names: Vec<String> =
        store.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["a_b", "aa", "ab"]);

    store.change_password(&ab, "new-hash", None, NOW, NOW + 300).await.unwrap();
    assert_eq!(store.find_user_by_id(&ab).await.unwrap().unwrap().password_hash, "new-hash");
}

async fn user_activity_counts_only_live_sessions(store: Store) {
    let alice = user(&store, "alice").await;
    user(&store, "bob").await;
    session(&store, &alice, NOW - 100, b"t1").await;
    session(&store, &alice, NOW - 50, b"t2").await;
    let ended = session(&store, &alice, NOW - 10, b"t3").await;
    store.end_session(&ended, EndReason::Logout, NOW, NOW + 300).await.unwrap();
    session(&store, &alice, NOW - 5000, b"t4").await; // idle past the cutoff

    let activity = store.list_users_with_activity(live_at(NOW)).await.unwrap();
    let summary: Vec<(String, u64, Option<i64>)> =
        activity.into_iter().map(|a| (a.user.username, a.session_count, a.last_seen_at)).collect();
    assert_eq!(summary, [("alice".to_owned(), 2, Some(NOW - 50)), ("bob".to_owned(), 0, None)]);
}

async fn sessions_are_touched_forward_only_and_listed_while_live(store: Store) {
    let alice = user(&store, "alice").await;
    let older = session(&store, &alice, NOW - 100, b"t1").await;
    let newer = session(&store, &alice, NOW - 10, b"t2").await;

    store.touch_session(&older, NOW).await.unwrap();
    // A late writer (another instance's clock a little behind) never moves it back.
    store.touch_session(&older, NOW - 30).await.unwrap();
    assert_eq!(store.find_session(&older).await.unwrap().unwrap().last_seen_at, NOW);

    let ids = |sessions: Vec<auth_api::store::SessionRecord>| -> Vec<String> {
        sessions.into_iter().map(|s| s.id).collect()
    };
    let live = store.live_sessions_of(&alice, live_at(NOW)).await.unwrap();
    assert_eq!(ids(live), [older.clone(), newer.clone()], "most recently used first");
    // Idle: `newer` was last seen at NOW - 10, so a cutoff just after drops it.
    let strict = Liveness { now: NOW, idle_cutoff: NOW - 10, remember_idle_cutoff: NOW - 10 };
    assert_eq!(ids(store.live_sessions_of(&alice, strict).await.unwrap()), [older]);
    // Absolute timeout: both expire an hour after they started.
    assert!(store.live_sessions_of(&alice, live_at(NOW + 3600)).await.unwrap().is_empty());

    let record = store.find_session(&newer).await.unwrap().unwrap();
    assert_eq!((record.created_at, record.expires_at), (NOW - 10, NOW - 10 + 3600));
    assert!(record.remember && record.ended_at.is_none());
    assert!(store.find_session("missing").await.unwrap().is_none());
}

async fn a_refresh_token_is_found_with_its_session_and_user(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW, b"token").await;
    let record = store.find_refresh(&sid).await.unwrap().expect("the session");
    assert_eq!(record.session.id, sid);
    assert_eq!(record.session.user_id, alice);
    assert_eq!(record.session.created_at, NOW);
    assert_eq!(record.session.user_agent.as_deref(), Some("Firefox"));
    assert_eq!(record.session.ip.as_deref(), Some("203.0.113.7"));
    assert!(record.session.remember);
    assert_eq!(record.user.id, alice);
    assert_eq!(record.user.username, "alice");
    assert_eq!(record.user.created_at, NOW - 1000, "the user's own creation time");
    assert_eq!(record.user.roles, vec![Role::Admin, Role::User]);
    let refresh = record.refresh;
    assert_eq!((refresh.generation, refresh.current.as_deref()), (0, Some(&b"token"[..])));
    assert_eq!(refresh.family.as_deref(), Some(&b"family"[..]));
    assert!(refresh.previous.is_none() && refresh.sealed.is_none() && refresh.rotated_at.is_none());
    assert!(store.find_refresh("unknown").await.unwrap().is_none());
}

async fn rotation_replaces_a_generation_once_and_not_in_an_ended_session(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW - 100, b"first").await;

    let rotated = store.rotate_refresh(rotate(&sid, 0, b"first", b"second", NOW)).await.unwrap();
    let rotated = rotated.expect("rotated");
    assert_eq!((rotated.user.username.as_str(), rotated.session.id.as_str()), ("alice", &sid[..]));
    let record = store.find_refresh(&sid).await.unwrap().unwrap();
    assert_eq!(rotated.refresh, record.refresh, "it returns the session as it is now");
    let refresh = &record.refresh;
    assert_eq!(refresh.generation, 1);
    assert_eq!(refresh.current.as_deref(), Some(&b"second"[..]));
    assert_eq!(refresh.previous.as_deref(), Some(&b"first"[..]));
    assert_eq!(refresh.sealed.as_deref(), Some(&b"sealed-second"[..]));
    assert_eq!(refresh.family.as_deref(), Some(&b"family"[..]), "the family stays");
    assert_eq!(refresh.rotated_at, Some(NOW));
    assert_eq!(record.session.last_seen_at, NOW, "rotation counts as use");

    // Generation 0 is gone; a rotation of it changes nothing.
    let stale = rotate(&sid, 0, b"first", b"third", NOW + 1);
    assert!(store.rotate_refresh(stale).await.unwrap().is_none());
    // The right generation with another token's hash: nothing either.
    let forged = rotate(&sid, 1, b"first", b"third", NOW + 1);
    assert!(store.rotate_refresh(forged).await.unwrap().is_none());
    // The next one keeps only the last two.
    let next = rotate(&sid, 1, b"second", b"third", NOW + 1);
    assert!(store.rotate_refresh(next).await.unwrap().is_some());
    let refresh = store.find_refresh(&sid).await.unwrap().unwrap().refresh;
    assert_eq!(refresh.generation, 2);
    assert_eq!(refresh.current.as_deref(), Some(&b"third"[..]));
    assert_eq!(refresh.previous.as_deref(), Some(&b"second"[..]));

    store.end_session(&sid, EndReason::Logout, NOW + 2, NOW + 300).await.unwrap();
    let ended = rotate(&sid, 2, b"third", b"fourth", NOW + 3);
    assert!(store.rotate_refresh(ended).await.unwrap().is_none());
    let after = store.find_refresh(&sid).await.unwrap().unwrap();
    assert_eq!(after.refresh, refresh, "nothing of the refused rotation stayed");
}

/// Each racer brings a family too (as the first rotation of a token from
/// before generations does): the session's own is never replaced.
async fn concurrent_rotations_of_one_generation_produce_exactly_one_successor(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW - 100, b"shared").await;
    let mut racers = JoinSet::new();
    for i in 0..20u8 {
        let (store, sid) = (store.clone(), sid.clone());
        racers.spawn(async move {
            let successor = [b's', i];
            let mut rotation = rotate(&sid, 0, b"shared", &successor, NOW);
            rotation.family = Some(vec![b'f', i]);
            (store.rotate_refresh(rotation).await.unwrap().is_some(), successor)
        });
    }
    let results = racers.join_all().await;
    let winners: Vec<[u8; 2]> = results.iter().filter(|(won, _)| *won).map(|(_, s)| *s).collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {results:?}");
    let refresh = store.find_refresh(&sid).await.unwrap().unwrap().refresh;
    assert_eq!(refresh.generation, 1);
    assert_eq!(refresh.current.as_deref(), Some(&winners[0][..]));
    assert_eq!(refresh.previous.as_deref(), Some(&b"shared"[..]));
    assert_eq!(refresh.family.as_deref(), Some(&b"family"[..]), "an existing family is kept");
}

/// On SQLite these may share one group-commit batch.
async fn rotations_of_different_sessions_in_one_batch_all_apply(store: Store) {
    let alice = user(&store, "alice").await;
    let mut sessions = Vec::new();
    for i in 0..8u8 {
        sessions.push(session(&store, &alice, NOW - 100, &[b't', i]).await);
    }
    let mut racers = JoinSet::new();
    for (i, sid) in sessions.iter().enumerate() {
        let (store, sid) = (store.clone(), sid.clone());
        racers.spawn(async move {
            let rotation = rotate(&sid, 0, &[b't', i as u8], &[b'n', i as u8], NOW);
            store.rotate_refresh(rotation).await
        });
    }
    assert!(racers.join_all().await.into_iter().all(|won| won.unwrap().is_some()));
    for (i, sid) in sessions.iter().enumerate() {
        let refresh = store.find_refresh(sid).await.unwrap().unwrap().refresh;
        assert_eq!(refresh.current.as_deref(), Some(&[b'n', i as u8][..]));
    }
}

async fn a_sign_in_beyond_the_limit_supersedes_the_oldest_sessions(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let bobs = session(&store, &bob, NOW - 50, b"bob").await;
    let (_, cursor) = read_feed(&store, 0).await;
    // Idled out (last seen 1,000 s ago, idle limit 600 s): dead already,
    // it neither counts nor is the one to end.
    let idle = session(&store, &alice, NOW - 1_000, b"idle").await;
    let mut older = Vec::new();
    for i in 0..3 {
        older.push(session(&store, &alice, NOW - 40 + i, &[b'a', i as u8]).await);
    }
    let mut new = new_session(&alice, NOW);
    new.live_limit = 2;
    let seen = store
        .create_session(&new, first(b"newest"), "hash-of-alice", &signed_in(&new))
        .await
        .unwrap()
        .expect("started");
    // Three live + the new one, two allowed: the two oldest end.
    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    assert_eq!(sorted(seen.superseded), sorted(older[..2].to_vec()));
    for (id, ended) in [(&older[0], true), (&older[1], true), (&older[2], false), (&new.id, false)]
    {
        let session = store.find_session(id).await.unwrap().unwrap();
        assert_eq!(session.ended_at.is_some(), ended, "{id}");
    }
    assert!(store.find_session(&bobs).await.unwrap().unwrap().ended_at.is_none(), "others' stay");
    assert!(store.find_session(&idle).await.unwrap().unwrap().ended_at.is_none(), "not counted");
    let published = read_feed(&store, cursor).await.0;
    assert_eq!(sorted(published), sorted(older[..2].to_vec()), "published on the feed");

    // Within the limit, nothing ends.
    let mut another = new_session(&bob, NOW);
    another.live_limit = 2;
    let seen = store
        .create_session(&another, first(b"bob-2"), "hash-of-bob", &signed_in(&another))
        .await
        .unwrap()
        .unwrap();
    assert!(seen.superseded.is_empty());
}

/// However often a session rotates, the database holds as many rows as
/// after its first rotation: no table grows per refresh.
async fn rows_stay_constant_over_10_000_rotations(db: &crate::helpers::TestDb) -> (i64, i64) {
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW, b"g0").await;
    assert!(store.rotate_refresh(rotate(&sid, 0, b"g0", b"g1", NOW)).await.unwrap().is_some());
    let after_one = total_rows(&db.url).await;
    let mut current = b"g1".to_vec();
    for generation in 1..10_000i64 {
        let next = (generation + 1).to_be_bytes();
        let rotation = rotate(&sid, generation, &current, &next, NOW);
        assert!(store.rotate_refresh(rotation).await.unwrap().is_some());
        current = next.to_vec();
    }
    let after_all = total_rows(&db.url).await;
    assert_eq!(store.find_refresh(&sid).await.unwrap().unwrap().refresh.generation, 10_000);
    (after_one, after_all)
}

/// Every row of every table of the schema (sqlx's own bookkeeping aside).
async fn total_rows(url: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut total = 0;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let tables = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for table in tables.iter().map(|r| r.get::<String, _>(0)) {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            total += sqlx::query_scalar::<_, i64>(&sql).fetch_one(&mut conn).await.unwrap();
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let tables = sqlx::query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
             AND tablename NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for table in tables.iter().map(|r| r.get::<String, _>(0)) {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            total += sqlx::query_scalar::<_, i64>(&sql).fetch_one(&mut conn).await.unwrap();
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_per_session_do_not_grow_with_rotations() {
    let db = crate::helpers::TestDb::sqlite();
    let (one, all) = rows_stay_constant_over_10_000_rotations(&db).await;
    eprintln!("rows in the database after 1 rotation: {one}; after 10,000: {all}");
    assert_eq!(one, all, "rows after 1 rotation: {one}; after 10,000: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_per_session_do_not_grow_with_rotations() {
    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
    let (one, all) = rows_stay_constant_over_10_000_rotations(&db).await;
    eprintln!("rows in the database after 1 rotation: {one}; after 10,000: {all}");
    assert_eq!(one, all, "rows after 1 rotation: {one}; after 10,000: {all}");
}

async fn ended_sessions_are_published_once_in_cursor_order(store: Store) {
    let alice = user(&store, "alice").await;
    let (start, _) = store.revocations_after(0, NOW, 100).await.unwrap();
    assert!(start.is_empty());
    let first = session(&store, &alice, NOW, b"t1").await;
    let second = session(&store, &alice, NOW, b"t2").await;
    let third = session(&store, &alice, NOW, b"t3").await;

    assert!(store.end_session(&first, EndReason::Logout, NOW, NOW + 300).await.unwrap());
    assert!(!store.end_session(&first, EndReason::Admin, NOW, NOW + 300).await.unwrap());
    let (page, cursor) = store.revocations_after(0, NOW, 100).await.unwrap();
    assert_eq!(page, [Revocation::ended(first.clone(), NOW + 300)], "published once");
    assert!(store.find_session(&first).await.unwrap().unwrap().ended_at == Some(NOW));

    // The rest of the user's sessions; `first` has ended already.
    let end_all = || store.end_user_sessions(&alice, None, EndReason::Admin, NOW, NOW + 60);
    assert_eq!(end_all().await.unwrap(), 2);
    assert_eq!(end_all().await.unwrap(), 0);
    let (page, next) = store.revocations_after(cursor, NOW, 100).await.unwrap();
    let ended: HashSet<String> = page.into_iter().map(|r| r.sid).collect();
    assert_eq!(ended, HashSet::from([second.clone(), third.clone()]));
    assert!(next > cursor);
    assert_eq!(store.revocations_after(next, NOW, 100).await.unwrap(), (vec![], next));

    // Pages resume where the last one ended; expired entries are skipped
    // but still move the cursor.
    let (one, after_one) = store.revocations_after(0, NOW, 1).await.unwrap();
    assert_eq!(one, [Revocation::ended(first.clone(), NOW + 300)]);
    assert_eq!(store.revocations_after(after_one, NOW + 100, 100).await.unwrap(), (vec![], next));
    let (all, _) = read_feed(&store, 0).await;
    assert_eq!(all[0], first, "ids follow the order of the ends");
    assert_eq!(all.len(), 3);
}

async fn a_reader_following_the_cursor_during_concurrent_ends_sees_each_end_once(store: Store) {
    const ENDS: usize = 40;
    let alice = user(&store, "alice").await;
    let mut ids = Vec::new();
    for i in 0..ENDS {
        ids.push(session(&store, &alice, NOW, format!("t{i}").as_bytes()).await);
    }
    let mut writers = JoinSet::new();
    for id in ids.clone() {
        let store = store.clone();
        writers.spawn(async move {
            assert!(store.end_session(&id, EndReason::Admin, NOW, NOW + 300).await.unwrap());
        });
    }
    // A reader that keeps following the cursor while the ends commit; if an
    // id could become visible after a higher one, it would be skipped for good.
    let mut seen = Vec::new();
    let mut cursor = 0;
    while !writers.is_empty() {
        let (page, next) = read_feed(&store, cursor).await;
        seen.extend(page);
        cursor = next;
        if let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
        tokio::task::yield_now().await;
    }
    seen.extend(read_feed(&store, cursor).await.0);
    let missed: Vec<&String> = ids.iter().filter(|id| !seen.contains(id)).collect();
    assert!(missed.is_empty(), "the reader skipped {} of {ENDS} ends", missed.len());
    assert_eq!(seen.len(), ENDS, "each end once");
}

async fn racing_first_starts_insert_exactly_one_signing_key(store: Store) {
    let mut starts = JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        starts.spawn(async move { store.insert_first_signing_key(&keys::generate(), NOW).await });
    }
    for result in starts.join_all().await {
        result.unwrap();
    }
    let current = store.signing_keys(i64::MAX).await.unwrap();
    assert_eq!(current.len(), 1, "one current key");
    let kid = current[0].kid.clone();
    assert_eq!(current[0].seed.as_ref().map(Vec::len), Some(32));
    assert_eq!(current[0].public.len(), 32);

    store.insert_first_signing_key(&keys::generate(), NOW + 1).await.unwrap();
    let again = store.signing_keys(i64::MIN).await.unwrap();
    assert_eq!(again.len(), 1, "a later start adds nothing");
    assert_eq!(again[0].kid, kid);
}

async fn key_rotation_retires_the_old_key_and_drops_its_private_half(store: Store) {
    let first = keys::generate();
    store.insert_first_signing_key(&first, NOW - 100).await.unwrap();
    let second = keys::generate();
    let kid = store.rotate_signing_key(second.clone(), NOW).await.unwrap();
    assert_eq!(kid, second.kid);

    let ring = store.signing_keys(NOW - 1).await.unwrap();
    let kids: Vec<&str> = ring.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, [second.kid.as_str(), first.kid.as_str()], "current first");
    assert_eq!(ring[0].seed.as_deref(), Some(&second.seed[..]));
    assert!(ring[0].retired_at.is_none());
    assert_eq!(ring[1].seed, None, "a retired key can never sign again");
    assert_eq!(ring[1].public, first.public);
    assert_eq!(ring[1].retired_at, Some(NOW));
    // Once its tokens can no longer be live, the retired key is not read.
    let later: Vec<String> =
        store.signing_keys(NOW).await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(later, [second.kid]);
}

async fn concurrent_key_rotations_leave_exactly_one_current_key(store: Store) {
    store.insert_first_signing_key(&keys::generate(), NOW - 100).await.unwrap();
    let mut rotations = JoinSet::new();
    for _ in 0..5 {
        let store = store.clone();
        rotations.spawn(async move { store.rotate_signing_key(keys::generate(), NOW).await });
    }
    let new_kids: HashSet<String> =
        rotations.join_all().await.into_iter().map(Result::unwrap).collect();
    let all = store.signing_keys(i64::MIN).await.unwrap();
    assert_eq!(all.len(), 6);
    let current: Vec<_> = all.iter().filter(|k| k.retired_at.is_none()).collect();
    assert_eq!(current.len(), 1, "exactly one current key");
    assert!(new_kids.contains(&current[0].kid));
    assert!(all.iter().filter(|k| k.retired_at.is_some()).all(|k| k.seed.is_none()));
}

async fn a_key_cut_off_leaves_the_ring_at_once_and_the_feed_names_it(store: Store) {
    let first = keys::generate();
    store.insert_first_signing_key(&first, NOW - 100).await.unwrap();
    let second = keys::generate();
    store.rotate_signing_key(second.clone(), NOW - 50).await.unwrap();

    // A rotated-out key: cut off, nothing replaces it.
    let retired = store.retire_signing_key(&first.kid, keys::generate(), NOW).await.unwrap();
    assert_eq!(retired, KeyRetirement::Retired { replaced_by: None });
    let ring: Vec<String> =
        store.signing_keys(i64::MIN).await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(ring, [second.kid.as_str()], "gone though its tokens could still be live");

    // The current key: a new one is current in the same transaction.
    let third = keys::generate();
    let retired = store.retire_signing_key(&second.kid, third.clone(), NOW + 1).await.unwrap();
    assert_eq!(retired, KeyRetirement::Retired { replaced_by: Some(third.kid.clone()) });
    let ring = store.signing_keys(i64::MIN).await.unwrap();
    assert_eq!(ring.len(), 1);
    assert_eq!((ring[0].kid.as_str(), ring[0].retired_at), (third.kid.as_str(), None));
    assert_eq!(ring[0].seed.as_deref(), Some(&third.seed[..]));
    // Rotation still works after (one current key: PostgreSQL's unique index).
    store.rotate_signing_key(keys::generate(), NOW + 2).await.unwrap();

    let (_, named) = store.feed_state(NOW - 1).await.unwrap();
    let mut expected = vec![first.kid.clone(), second.kid.clone()];
    expected.sort();
    assert_eq!(named, expected, "both, in byte order");
    let (_, named) = store.feed_state(NOW).await.unwrap();
    assert_eq!(named, [second.kid.as_str()], "once its tokens are dead, no longer named");

    for (kid, expected) in
        [(first.kid.as_str(), KeyRetirement::AlreadyRetired), ("nope", KeyRetirement::Unknown)]
    {
        let again = store.retire_signing_key(kid, keys::generate(), NOW + 3).await.unwrap();
        assert_eq!(again, expected, "{kid}");
    }
    assert_eq!(store.signing_keys(i64::MIN).await.unwrap().len(), 2, "nothing more changed");
}

async fn every_epoch_renewal_gives_the_feed_a_new_epoch(store: Store) {
    let (created, named) = store.feed_state(NOW).await.unwrap();
    assert!(!created.is_empty(), "the migration gives a database its first epoch");
    assert!(named.is_empty());
    store.renew_feed_epoch("e2").await.unwrap();
    let renewed = store.feed_state(NOW).await.unwrap().0;
    assert_ne!(renewed, created);
    // On PostgreSQL the server's start time follows (readers start over
    // after a restart or a failover too, `restores.rs` checks that).
    assert!(renewed.starts_with("e2"), "{renewed}");
    assert!(renewed[2..].bytes().all(|b| b.is_ascii_digit()), "{renewed}");
    assert_eq!(store.feed_state(NOW).await.unwrap().0, renewed, "stable while the server runs");
}

async fn failures_are_counted_per_key_and_windows_start_over(store: Store) {
    const WINDOW: i64 = 900;
    let fresh = store.failure_count("user:alice").await.unwrap();
    assert_eq!((fresh.failures, fresh.window_start), (0, 0));
    for i in 0..3 {
        store.record_failure(&["user:alice", "ip:203.0.113.7"], NOW + i, WINDOW).await.unwrap();
    }
    let user = store.failure_count("user:alice").await.unwrap();
    assert_eq!((user.failures, user.window_start), (3, NOW));
    assert_eq!(store.failure_count("ip:203.0.113.7").await.unwrap().failures, 3);

    // The window has ended: counting starts over from this failure.
    store.record_failure(&["user:alice"], NOW + WINDOW, WINDOW).await.unwrap();
    let user = store.failure_count("user:alice").await.unwrap();
    assert_eq!((user.failures, user.window_start), (1, NOW + WINDOW));

    store.clear_failures("user:alice").await.unwrap();
    assert_eq!(store.failure_count("user:alice").await.unwrap().failures, 0);
    assert_eq!(store.failure_count("ip:203.0.113.7").await.unwrap().failures, 3, "IP kept");
}

async fn concurrent_failures_are_all_counted(store: Store) {
    let mut attempts = JoinSet::new();
    for _ in 0..20 {
        let store = store.clone();
        attempts.spawn(async move { store.record_failure(&["user:x", "ip:y"], NOW, 900).await });
    }
    for result in attempts.join_all().await {
        result.unwrap();
    }
    assert_eq!(store.failure_count("user:x").await.unwrap().failures, 20);
    assert_eq!(store.failure_count("ip:y").await.unwrap().failures, 20);
}

async fn prune_deletes_only_what_can_no_longer_matter(store: Store) {
    let alice = user(&store, "alice").await;
    let live = session(&store, &alice, NOW, b"live").await;
    let ended_long_ago = session(&store, &alice, NOW - 10_000, b"old").await;
    store.end_session(&ended_long_ago, EndReason::Logout, NOW - 9_000, NOW - 8_000).await.unwrap();
    let ended_recently = session(&store, &alice, NOW - 100, b"recent").await;
    store.end_session(&ended_recently, EndReason::Logout, NOW - 50, NOW + 250).await.unwrap();
    store.record_failure(&["user:stale"], NOW - 2_000, 900).await.unwrap();
    store.record_failure(&["user:fresh"], NOW - 100, 900).await.unwrap();

    let event = |at| NewEvent { at, kind: "sign_in", ..NewEvent::default() };
    store.record_event(&event(NOW - 2_000)).await.unwrap();
    store.record_event(&event(NOW - 500)).await.unwrap();

    store.prune(NOW, NOW - 1_000, 900, NOW - 1_000).await.unwrap();
    assert!(store.find_session(&ended_long_ago).await.unwrap().is_none());
    assert!(store.find_refresh(&ended_long_ago).await.unwrap().is_none());
    assert!(store.find_session(&ended_recently).await.unwrap().is_some());
    assert!(store.find_session(&live).await.unwrap().is_some());
    assert!(store.find_refresh(&live).await.unwrap().is_some());
    assert_eq!(read_feed(&store, 0).await.0, [ended_recently], "expired revocations go");
    assert_eq!(store.failure_count("user:stale").await.unwrap().failures, 0);
    assert_eq!(store.failure_count("user:fresh").await.unwrap().failures, 1);
    let kept = store.audit_events(&EventFilter { limit: 10, ..Default::default() }).await.unwrap();
    let mut kept: Vec<i64> = kept.iter().map(|e| e.at).collect();
    kept.sort();
    // The sessions' sign-in events at NOW - 100 and NOW stay; NOW - 2,000
    // and the sign-in at NOW - 10,000 go.
    assert_eq!(kept, [NOW - 500, NOW - 100, NOW], "old events go");
}

async fn remembered_and_browser_sessions_idle_out_on_their_own_clocks(store: Store) {
    let alice = user(&store, "alice").await;
    let remembered = session(&store, &alice, NOW - 1_000, b"t1").await;
    let browser = NewSession { remember: false, ..new_session(&alice, NOW - 1_000) };
    assert!(
        store
            .create_session(&browser, first(b"t2"), "hash-of-alice", &signed_in(&browser))
            .await
            .unwrap()
            .is_some()
    );
    // Browser sessions idle out after 600 s, remembered ones after 5,000.
    let live = Liveness { now: NOW, idle_cutoff: NOW - 600, remember_idle_cutoff: NOW - 5_000 };
    let ids: Vec<String> =
        store.live_sessions_of(&alice, live).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, [remembered]);
    let activity = store.list_users_with_activity(live).await.unwrap();
    assert_eq!(activity[0].session_count, 1, "the admin list counts the same way");
    let record = store.find_session(&browser.id).await.unwrap().unwrap();
    assert!(!record.remember);
    assert_eq!(record.auth_time, NOW - 1_000, "a session starts authenticated at sign-in");
}

async fn a_password_change_ends_every_other_session_and_refreshes_auth_time(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let here = session(&store, &alice, NOW - 100, b"here").await;
    let elsewhere = session(&store, &alice, NOW - 100, b"elsewhere").await;
    let bobs = session(&store, &bob, NOW - 100, b"bobs").await;
    let (_, cursor) = store.revocations_after(0, NOW, 100).await.unwrap();

    let ended = store.change_password(&alice, "new-hash", Some(&here), NOW, NOW + 300).await;
    assert_eq!(ended.unwrap(), 1);
    assert_eq!(store.find_user_by_id(&alice).await.unwrap().unwrap().password_hash, "new-hash");
    let kept = store.find_session(&here).await.unwrap().unwrap();
    assert!(kept.ended_at.is_none());
    assert_eq!(kept.auth_time, NOW, "typing the password again re-authenticates");
    assert_eq!(store.find_session(&elsewhere).await.unwrap().unwrap().ended_at, Some(NOW));
    assert!(store.find_session(&bobs).await.unwrap().unwrap().ended_at.is_none());
    let (page, _) = store.revocations_after(cursor, NOW, 100).await.unwrap();
    let stale = Revocation { sid: here.clone(), until: NOW + 300, stale_before: Some(NOW) };
    assert_eq!(
        page,
        [Revocation::ended(elsewhere, NOW + 300), stale],
        "the other session ended, this one's tokens stale, on the feed"
    );
    // A sign-in verified against the old password does not start a session.
    let late = new_session(&alice, NOW);
    assert_eq!(
        store
            .create_session(&late, first(b"late"), "hash-of-alice", &signed_in(&late))
            .await
            .unwrap(),
        None
    );
    assert!(store.find_session(&late.id).await.unwrap().is_none());
    let events = store.audit_events(&EventFilter { limit: 100, ..Default::default() }).await;
    let late_sid = Some(late.id.clone());
    assert!(
        !events.unwrap().iter().any(|e| e.session_id == late_sid),
        "no event without its session"
    );
    let seen =
        store.create_session(&late, first(b"late"), "new-hash", &signed_in(&late)).await.unwrap();
    assert_eq!(seen.map(|u| u.roles), Some(vec![Role::Admin, Role::User]), "the roles as of now");
    // Nor for a disabled user.
    store.set_disabled(&bob, true, NOW, NOW + 300).await.unwrap();
    let bob_late = new_session(&bob, NOW);
    assert_eq!(
        store
            .create_session(&bob_late, first(b"bob-late"), "hash-of-bob", &signed_in(&bob_late))
            .await
            .unwrap(),
        None
    );
}

async fn audit_events_are_filtered_and_paged_newest_first(store: Store) {
    let event = |at: i64, kind: &'static str, user: Option<(&str, &str)>| NewEvent {
        at,
        kind,
        user_id: user.map(|(id, _)| id.to_owned()),
        username: user.map(|(_, name)| name.to_owned()),
        actor_name: Some("cli".into()),
        ip: Some("198.51.100.4".into()),
        user_agent: Some("Firefox".into()),
        detail: Some("why".into()),
        ..NewEvent::default()
    };
    for i in 0..5 {
        store.record_event(&event(NOW + i, "sign_in", Some(("u1", "alice")))).await.unwrap();
    }
    store.record_event(&event(NOW + 10, "password_changed", Some(("u1", "alice")))).await.unwrap();
    store.record_event(&event(NOW + 11, "sign_in", Some(("u2", "bob")))).await.unwrap();
    store.record_event(&event(NOW + 12, "keys_rotated", None)).await.unwrap();

    let read = |filter: EventFilter| {
        let store = store.clone();
        async move { store.audit_events(&filter).await.unwrap() }
    };
    let all = read(EventFilter { limit: 100, ..Default::default() }).await;
    assert_eq!(all.len(), 8);
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>()[..3], [NOW + 12, NOW + 11, NOW + 10]);
    let first = &all[1];
    assert_eq!(
        (first.kind.as_str(), first.username.as_deref(), first.actor_name.as_deref()),
        ("sign_in", Some("bob"), Some("cli"))
    );
    assert_eq!((first.ip.as_deref(), first.detail.as_deref()), (Some("198.51.100.4"), Some("why")));

    let alices = read(EventFilter { user_id: Some("u1".into()), limit: 100, ..Default::default() });
    assert_eq!(alices.await.len(), 6);
    let by_name =
        read(EventFilter { username: Some("bob".into()), limit: 100, ..Default::default() });
    assert_eq!(by_name.await.len(), 1);
    let kind = read(EventFilter {
        user_id: Some("u1".into()),
        kind: Some("sign_in".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(kind.await.len(), 5);

    // Pages of two follow the cursor to the end without repeats.
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let page = read(EventFilter { before, limit: 2, ..Default::default() }).await;
        seen.extend(page.iter().map(|e| e.id));
        match page.last() {
            Some(last) if page.len() == 2 => before = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, all.iter().map(|e| e.id).collect::<Vec<_>>());
}

/// SQLite only: the writer does not checkpoint by itself (a checkpoint
/// syncs the disk, milliseconds every rotation would wait for); a background
/// task does, so committed pages reach the database file. A few hundred
/// sessions need new pages but stay far below SQLite's own 1,000-page
/// trigger: if the file grows by them, the task wrote them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_the_wal_in_the_background() {
    let db = crate::helpers::TestDb::sqlite();
    let store = db.store().await;
    let file = std::path::PathBuf::from(db.url.strip_prefix("sqlite://").unwrap());
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let alice = user(&store, "alice").await;
    // Whatever the migrations left in the WAL reaches the file first.
    let mut before = size();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = size();
        if now == before {
            break;
        }
        before = now;
    }
    for i in 0..300u16 {
        session(&store, &alice, NOW, &i.to_be_bytes()).await;
    }
    let after = wait_for(|| size() >= before + 16 * 4096, size).await;
    assert!(
        after >= before + 16 * 4096,
        "the database file did not grow: {before} → {after} bytes"
    );
}

/// Polls `ready` every 20 ms for up to 5 s, then returns `value()`.
async fn wait_for(ready: impl Fn() -> bool, value: impl Fn() -> u64) -> u64 {
    for _ in 0..250 {
        if ready() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    value()
}

/// SQLite only: under writes that never pause, the WAL still starts over
/// and stays bounded (without the writer-side catch-up it grows by the size
/// of everything written, until the disk is full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_the_wal_bounded_under_sustained_writes() {
    let db = crate::helpers::TestDb::sqlite();
    let store = db.store().await;
    let wal =
        std::path::PathBuf::from(format!("{}-wal", db.url.strip_prefix("sqlite://").unwrap()));
    let alice = user(&store, "alice").await;
    let mut writers = JoinSet::new();
    for w in 0..16u8 {
        let (store, alice) = (store.clone(), alice.clone());
        writers.spawn(async move {
            let mut current = vec![w, 0, 0];
            let sid = session(&store, &alice, NOW, &current).await;
            for i in 1..=2000u16 {
                let next = [vec![w], i.to_be_bytes().to_vec()].concat();
                let mut rotation = rotate(&sid, i64::from(i) - 1, &current, &next, NOW);
                rotation.sealed = vec![0; 64];
                assert!(store.rotate_refresh(rotation).await.unwrap().is_some());
                current = next;
            }
        });
    }
    let mut largest = 0;
    while !writers.is_empty() {
        tokio::select! {
            done = writers.join_next() => done.unwrap().unwrap(),
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
        }
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    // Unbounded, it reached 364 MB here; bounded, 16–20 MB alone and up to
    // 50 MB beside the other tests (the checkpointer's rounds come late).
    let written = 16 * 2000 * 3 * 4096;
    assert!(
        largest < 128 << 20,
        "WAL reached {largest} bytes for ~{written} bytes of pages written"
    );
}

async fn the_last_active_admin_cannot_be_disabled_demoted_or_deleted(store: Store) {
    // `user` makes admins (roles admin,user).
    let a = user(&store, "a").await;
    let b = user(&store, "b").await;
    let (until, live) = (NOW + 300, live_at(NOW));
    assert_eq!(store.set_roles(&a, &[Role::User], live, until).await.unwrap(), UserChange::Done(0));
    // b is the last one now, whichever way it would go.
    assert_eq!(
        store.set_roles(&b, &[Role::User], live, until).await.unwrap(),
        UserChange::LastAdmin
    );
    assert_eq!(store.set_disabled(&b, true, NOW, until).await.unwrap(), UserChange::LastAdmin);
    assert_eq!(store.delete_user(&b, NOW, until).await.unwrap(), UserChange::LastAdmin);
    // Keeping the role, or changing a non-admin, is fine.
    let keep = [Role::Admin, Role::User];
    assert_eq!(store.set_roles(&b, &keep, live, until).await.unwrap(), UserChange::Done(0));
    assert_eq!(store.set_disabled(&a, true, NOW, until).await.unwrap(), UserChange::Done(0));
    // A disabled admin does not count: promoting a, still disabled, leaves b the last.
    assert_eq!(store.set_roles(&a, &keep, live, until).await.unwrap(), UserChange::Done(0));
    assert_eq!(store.set_disabled(&b, true, NOW, until).await.unwrap(), UserChange::LastAdmin);
    assert_eq!(store.set_disabled(&a, false, NOW, until).await.unwrap(), UserChange::Done(0));
    assert_eq!(store.set_disabled(&b, true, NOW, until).await.unwrap(), UserChange::Done(0));
    let b_now = store.find_user_by_id(&b).await.unwrap().unwrap();
    assert!(b_now.disabled && b_now.roles.contains(&Role::Admin));
    // An admin still on a temporary password is not an active one either.
    let fresh = NewUser {
        username: Username::parse("fresh").unwrap(),
        password_hash: "temporary".into(),
        roles: vec![Role::Admin, Role::User],
        now: NOW,
        password_change_required: true,
    };
    let fresh = store.create_user(fresh).await.unwrap().unwrap().id;
    assert_eq!(store.set_disabled(&a, true, NOW, until).await.unwrap(), UserChange::LastAdmin);
    assert_eq!(store.delete_user(&fresh, NOW, until).await.unwrap(), UserChange::Done(0));
    assert_eq!(store.delete_user("nobody", NOW, until).await.unwrap(), UserChange::NotFound);
    assert_eq!(store.set_disabled("nobody", true, NOW, until).await.unwrap(), UserChange::NotFound);
}

async fn concurrent_demotions_leave_an_admin(store: Store) {
    for round in 0..5 {
        let a = user(&store, &format!("a{round}")).await;
        let b = user(&store, &format!("b{round}")).await;
        // Only these two are active admins in this round.
        let others: Vec<String> =
            store.list_users().await.unwrap().into_iter().map(|u| u.id).collect();
        for id in others.iter().filter(|id| **id != a && **id != b) {
            store.set_disabled(id, true, NOW, NOW + 300).await.unwrap();
        }
        let mut racers = JoinSet::new();
        for id in [a.clone(), b.clone()] {
            let store = store.clone();
            racers.spawn(async move {
                store.set_roles(&id, &[Role::User], live_at(NOW), NOW + 300).await.unwrap()
            });
        }
        let outcomes: Vec<UserChange> = racers.join_all().await;
        assert!(
            outcomes.contains(&UserChange::LastAdmin) && outcomes.contains(&UserChange::Done(0)),
            "round {round}: exactly one demotion may win: {outcomes:?}"
        );
        // Clean up: disable both so the next round starts with two fresh admins.
        for id in [a, b] {
            store.set_roles(&id, &[Role::User], live_at(NOW), NOW + 300).await.ok();
        }
    }
}

async fn disabling_and_deleting_end_sessions_and_role_changes_make_them_stale(store: Store) {
    let admin = user(&store, "root").await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let one = session(&store, &alice, NOW - 100, b"one").await;
    let idle = session(&store, &alice, NOW - 5_000, b"idle").await; // idle past live_at's cutoff
    let (_, cursor) = store.revocations_after(0, NOW, 100).await.unwrap();

    // A role change: live sessions become stale, none ends.
    let change = store.set_roles(&alice, &[Role::User], live_at(NOW), NOW + 300).await.unwrap();
    assert_eq!(change, UserChange::Done(1));
    let (page, cursor) = store.revocations_after(cursor, NOW, 100).await.unwrap();
    let stale = Revocation { sid: one.clone(), until: NOW + 300, stale_before: Some(NOW) };
    assert_eq!(page, [stale]);
    assert!(store.find_session(&one).await.unwrap().unwrap().ended_at.is_none());
    assert!(store.find_session(&idle).await.unwrap().is_some());
    assert_eq!(store.find_user_by_id(&alice).await.unwrap().unwrap().roles, [Role::User]);

    // Disabling ends them all; enabling brings none back.
    assert_eq!(
        store.set_disabled(&alice, true, NOW, NOW + 300).await.unwrap(),
        UserChange::Done(2)
    );
    let (page, cursor) = store.revocations_after(cursor, NOW, 100).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|r| r.stale_before.is_none()), "ended, not stale: {page:?}");
    assert_eq!(
        store.set_disabled(&alice, false, NOW, NOW + 300).await.unwrap(),
        UserChange::Done(0)
    );
    assert!(!store.find_user_by_id(&alice).await.unwrap().unwrap().disabled);
    assert!(store.find_session(&one).await.unwrap().unwrap().ended_at.is_some());

    // Deleting: sessions end on the feed, the user and their rows go.
    let bobs = session(&store, &bob, NOW - 10, b"bobs").await;
    assert_eq!(store.delete_user(&bob, NOW, NOW + 300).await.unwrap(), UserChange::Done(1));
    let (page, _) = store.revocations_after(cursor, NOW, 100).await.unwrap();
    assert_eq!(page, [Revocation::ended(bobs.clone(), NOW + 300)]);
    assert!(store.find_user_by_id(&bob).await.unwrap().is_none());
    assert!(store.find_session(&bobs).await.unwrap().is_none());
    assert!(store.find_refresh(&bobs).await.unwrap().is_none());
    assert!(store.find_user_by_id(&admin).await.unwrap().is_some());
}

fn event(kind: &'static str, user_id: &str) -> NewEvent {
    NewEvent { at: NOW, kind, user_id: Some(user_id.to_owned()), ..NewEvent::default() }
}

/// Counts how many of `n` concurrent calls of `f` answer `true`.
async fn winners<F, Fut>(n: usize, f: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let mut racers = JoinSet::new();
    for _ in 0..n {
        racers.spawn(f());
    }
    racers.join_all().await.into_iter().filter(|won| *won).count()
}

/// A new factor's companions, for `confirm_totp` and `add_passkey`.
fn new_factor<'a>(
    session_id: &'a str,
    hashes: &'a [Vec<u8>],
    amr: &'a [String],
    event: &'a NewEvent,
) -> NewFactor<'a> {
    NewFactor {
        recovery_hashes: hashes,
        recovery_key_id: "0123456789abcdef",
        session_id,
        amr,
        revoked_until: NOW + 300,
        event,
    }
}

fn codes(tag: u8) -> Vec<Vec<u8>> {
    (0..10u8).map(|i| vec![tag, i]).collect()
}

async fn a_totp_key_is_confirmed_once_and_each_step_accepted_once(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW - 100, b"rt-alice").await;
    let other = session(&store, &alice, NOW - 100, b"rt-alice-2").await;
    assert!(!store.use_totp_step(&alice, 10).await.unwrap(), "nothing to use yet");
    assert!(store.put_unconfirmed_totp(&alice, b"sealed-1", &other, NOW).await.unwrap());
    assert!(store.put_unconfirmed_totp(&alice, b"sealed-2", &sid, NOW).await.unwrap(), "replaced");
    assert!(!store.has_second_factor(&alice).await.unwrap(), "not before it is confirmed");
    assert!(!store.use_totp_step(&alice, 10).await.unwrap(), "nor usable");

    let amr = vec!["pwd".to_owned(), "otp".to_owned()];
    let hashes = codes(b'h');
    let enabled = event("totp_enabled", &alice);
    let by_other = new_factor(&other, &hashes, &amr, &enabled);
    let wrong_session = store.confirm_totp(&alice, 100, &by_other).await.unwrap();
    assert_eq!(wrong_session, None, "only the session that set it up confirms it");
    let added = new_factor(&sid, &hashes, &amr, &enabled);
    let done = store.confirm_totp(&alice, 100, &added).await.unwrap().expect("confirmed");
    assert_eq!(
        done,
        FactorAdded { codes_issued: true, ended: 1 },
        "first factor: codes; the other session ends"
    );
    assert!(store.find_session(&other).await.unwrap().unwrap().ended_at.is_some());
    let (revoked, _) = read_feed(&store, 0).await;
    assert_eq!(revoked, std::slice::from_ref(&other), "published on the feed");
    assert_eq!(store.confirm_totp(&alice, 101, &added).await.unwrap(), None, "confirmed once");
    assert!(store.has_second_factor(&alice).await.unwrap());
    assert!(!store.put_unconfirmed_totp(&alice, b"sealed-3", &sid, NOW).await.unwrap(), "kept");
    let totp = store.totp_of(&alice).await.unwrap().unwrap();
    assert_eq!(
        (totp.secret_sealed, totp.last_step, totp.confirmed_at),
        (b"sealed-2".to_vec(), 100, Some(NOW))
    );
    assert_eq!(store.find_session(&sid).await.unwrap().unwrap().amr, amr, "the session proved it");
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 10);

    assert!(!store.use_totp_step(&alice, 100).await.unwrap(), "the confirming step is used");
    let (s, a) = (store.clone(), alice.clone());
    let won = winners(16, move || {
        let (s, a) = (s.clone(), a.clone());
        async move { s.use_totp_step(&a, 101).await.unwrap() }
    })
    .await;
    assert_eq!(won, 1, "one of sixteen racers gets step 101");
    assert!(!store.use_totp_step(&alice, 99).await.unwrap(), "never an older step");
    assert!(store.use_totp_step(&alice, 102).await.unwrap());

    let later = session(&store, &alice, NOW - 50, b"rt-alice-3").await;
    let disabled = event("totp_disabled", &alice);
    let removed = RemovedFactor { keep_session: &sid, revoked_until: NOW + 300, event: &disabled };
    assert_eq!(
        store.delete_totp(&alice, &removed).await.unwrap(),
        Some(1),
        "the other session ends"
    );
    assert!(store.find_session(&later).await.unwrap().unwrap().ended_at.is_some());
    assert!(store.find_session(&sid).await.unwrap().unwrap().ended_at.is_none(), "not this one");
    assert!(!store.has_second_factor(&alice).await.unwrap());
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 0, "codes go with it");
    assert_eq!(store.delete_totp(&alice, &removed).await.unwrap(), None);
}

async fn recovery_codes_are_spent_once_and_replaced_whole(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW - 100, b"rt-alice").await;
    let hashes = codes(b'a');
    assert!(
        !store.replace_recovery_codes(&alice, &hashes, "k", &event("x", &alice)).await.unwrap(),
        "no factor yet"
    );
    store.put_unconfirmed_totp(&alice, b"sealed", &sid, NOW).await.unwrap();
    let amr = vec!["pwd".to_owned()];
    let x = event("x", &alice);
    store.confirm_totp(&alice, 1, &new_factor(&sid, &hashes, &amr, &x)).await.unwrap();

    let (s, a) = (store.clone(), alice.clone());
    let won = winners(16, move || {
        let (s, a) = (s.clone(), a.clone());
        async move { s.use_recovery_code(&a, &[b'a', 3], NOW).await.unwrap() }
    })
    .await;
    assert_eq!(won, 1, "a code is spent once");
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 9);
    let bob = user(&store, "bob").await;
    assert!(!store.use_recovery_code(&bob, &[b'a', 4], NOW).await.unwrap(), "not another's");

    let fresh = codes(b'b');
    assert!(store.replace_recovery_codes(&alice, &fresh, "k", &x).await.unwrap());
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 10);
    assert!(!store.use_recovery_code(&alice, &[b'a', 4], NOW).await.unwrap(), "the old set died");
    assert!(store.use_recovery_code(&alice, &[b'b', 4], NOW).await.unwrap());
}

/// What `auth-api mfa rekey` and `mfa status` need of the store.
async fn mfa_rekey_pages_through_app_keys_reseals_conditionally_and_counts_codes_per_key(
    store: Store,
) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let (sa, sb) = (
        session(&store, &alice, NOW - 100, b"rt-alice").await,
        session(&store, &bob, NOW - 100, b"rt-bob").await,
    );
    assert!(store.put_unconfirmed_totp(&alice, b"alice-old", &sa, NOW).await.unwrap());
    assert!(store.put_unconfirmed_totp(&bob, b"bob-old", &sb, NOW).await.unwrap());
    let mut ids = [alice.clone(), bob.clone()];
    ids.sort();
    let first = store.totp_keys_after("", 1).await.unwrap();
    assert_eq!(first.iter().map(|(id, _)| id).collect::<Vec<_>>(), [&ids[0]]);
    let second = store.totp_keys_after(&ids[0], 10).await.unwrap();
    assert_eq!(second.iter().map(|(id, _)| id).collect::<Vec<_>>(), [&ids[1]]);
    assert!(store.totp_keys_after(&ids[1], 10).await.unwrap().is_empty(), "the end");

    let changes = [
        Reseal { user_id: alice.clone(), old: b"alice-old".to_vec(), new: b"alice-new".to_vec() },
        // Bob's row no longer holds what was read: it stays as it is.
        Reseal { user_id: bob.clone(), old: b"bob-stale".to_vec(), new: b"bob-new".to_vec() },
    ];
    assert_eq!(store.reseal_totp_keys(&changes).await.unwrap(), 1);
    assert_eq!(store.reseal_totp_keys(&[]).await.unwrap(), 0);
    let sealed = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move { store.totp_of(&id).await.unwrap().unwrap().secret_sealed }
    };
    assert_eq!(sealed(&alice).await, b"alice-new");
    assert_eq!(sealed(&bob).await, b"bob-old");

    let amr = vec!["pwd".to_owned()];
    let x = event("x", &alice);
    let hashes = codes(b'a');
    store.confirm_totp(&alice, 1, &new_factor(&sa, &hashes, &amr, &x)).await.unwrap();
    store.confirm_totp(&bob, 1, &new_factor(&sb, &codes(b'b'), &amr, &x)).await.unwrap();
    assert!(
        store.replace_recovery_codes(&bob, &codes(b'c'), "fedcba9876543210", &x).await.unwrap()
    );
    assert!(store.use_recovery_code(&alice, &hashes[0], NOW).await.unwrap());
    assert_eq!(store.record_recovery_key("0000000000000000").await.unwrap(), 0, "all recorded");
    let counted = |key_id: &str, codes, users| CodesUnderKey {
        key_id: Some(key_id.to_owned()),
        codes,
        users,
    };
    assert_eq!(
        store.unused_recovery_codes_by_key().await.unwrap(),
        [counted("0123456789abcdef", 9, 1), counted("fedcba9876543210", 10, 1)]
    );
}

fn passkey_of(user_id: &str, id: &[u8], name: &str) -> PasskeyRecord {
    PasskeyRecord {
        credential_id: id.to_vec(),
        user_id: user_id.to_owned(),
        name: name.to_owned(),
        passkey: format!("{{\"test\":\"{name}\"}}"),
        counter: 0,
        created_at: NOW,
        last_used_at: None,
    }
}

async fn passkeys_are_registered_once_used_and_removed_with_their_codes(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let sid = session(&store, &alice, NOW - 100, b"rt-alice").await;
    let other = session(&store, &alice, NOW - 100, b"rt-alice-2").await;
    let amr = vec!["pwd".to_owned(), "hwk".to_owned()];
    let (hashes, added) = (codes(b'k'), event("passkey_added", &alice));
    let first = store
        .add_passkey(
            &passkey_of(&alice, b"cred-1", "Laptop"),
            &new_factor(&sid, &hashes, &amr, &added),
        )
        .await
        .unwrap();
    assert_eq!(first, Some(FactorAdded { codes_issued: true, ended: 1 }));
    assert!(store.find_session(&other).await.unwrap().unwrap().ended_at.is_some());
    assert!(store.has_second_factor(&alice).await.unwrap());
    let factor = new_factor(&sid, &hashes, &amr, &added);
    let second = store.add_passkey(&passkey_of(&alice, b"cred-2", "Phone"), &factor).await.unwrap();
    assert_eq!(second, Some(FactorAdded { codes_issued: false, ended: 0 }), "not the first");
    let taken = store.add_passkey(&passkey_of(&bob, b"cred-2", "Bob's"), &factor).await.unwrap();
    assert_eq!(taken, None, "a credential is registered once");

    let names: Vec<String> =
        store.passkeys_of(&alice).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Laptop", "Phone"]);
    assert!(store.passkey_used(b"cred-1", "{\"counter\":2}", 2, NOW + 5).await.unwrap());
    let used = store.passkey(b"cred-1").await.unwrap().unwrap();
    assert_eq!(
        (used.passkey.as_str(), used.counter, used.last_used_at),
        ("{\"counter\":2}", 2, Some(NOW + 5))
    );
    // Two uses racing: the one with the lower counter, recorded last, is refused.
    assert!(store.passkey_used(b"cred-1", "{\"counter\":4}", 4, NOW + 6).await.unwrap());
    assert!(!store.passkey_used(b"cred-1", "{\"counter\":3}", 3, NOW + 6).await.unwrap());
    assert!(!store.passkey_used(b"cred-1", "{\"counter\":0}", 0, NOW + 6).await.unwrap());
    assert_eq!(store.passkey(b"cred-1").await.unwrap().unwrap().counter, 4, "never backwards");
    // An authenticator that keeps no counter (0) is used again and again.
    assert!(store.passkey_used(b"cred-2", "{}", 0, NOW + 7).await.unwrap());
    assert!(store.passkey_used(b"cred-2", "{}", 0, NOW + 8).await.unwrap());

    let event = event("passkey_removed", &alice);
    let removed = RemovedFactor { keep_session: &sid, revoked_until: NOW + 300, event: &event };
    assert_eq!(
        store.delete_passkey(&bob, b"cred-1", &removed).await.unwrap(),
        None,
        "only one's own"
    );
    assert_eq!(store.delete_passkey(&alice, b"cred-1", &removed).await.unwrap(), Some(0));
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 10, "a factor is left");
    assert!(store.delete_passkey(&alice, b"cred-2", &removed).await.unwrap().is_some());
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 0, "the last took the codes");
    assert!(!store.has_second_factor(&alice).await.unwrap());
}

async fn a_webauthn_ceremony_answers_once_for_its_purpose(store: Store) {
    let alice = user(&store, "alice").await;
    let ceremony = Ceremony {
        purpose: "register".into(),
        user_id: Some(alice.clone()),
        pending_hash: Some(b"pending".to_vec()),
        origin: "https://app.example".into(),
        state: "{}".into(),
        expires_at: NOW + 300,
    };
    store.put_ceremony(b"c1", &ceremony).await.unwrap();
    assert!(store.take_ceremony(b"c1", "sign_in", NOW).await.unwrap().is_none(), "other purpose");
    assert!(store.take_ceremony(b"c1", "register", NOW + 300).await.unwrap().is_none(), "expired");
    let (s, won) = (store.clone(), 0);
    let won = won
        + winners(8, move || {
            let s = s.clone();
            async move { s.take_ceremony(b"c1", "register", NOW).await.unwrap().is_some() }
        })
        .await;
    assert_eq!(won, 1, "taken once");
    store.put_ceremony(b"c3", &ceremony).await.unwrap();
    let taken = store.take_ceremony(b"c3", "register", NOW).await.unwrap().unwrap();
    assert_eq!(
        (taken.user_id.as_deref(), taken.pending_hash.as_deref(), taken.origin.as_str()),
        (Some(alice.as_str()), Some(&b"pending"[..]), "https://app.example"),
        "kept whole"
    );
    store.put_ceremony(b"c2", &Ceremony { user_id: None, ..ceremony }).await.unwrap();
    store.prune(NOW + 301, NOW - 86_400, 900, 0).await.unwrap();
    assert!(store.take_ceremony(b"c2", "register", NOW).await.unwrap().is_none(), "pruned");
}

fn pending_of(user_id: &str, expires_at: i64) -> PendingSignIn {
    PendingSignIn {
        user_id: user_id.to_owned(),
        password_hash: "hash-of-alice".into(),
        created_at: NOW,
        expires_at,
        failures: 0,
        remember: true,
        user_agent: Some("Firefox".into()),
        ip: Some("203.0.113.7".into()),
        device: None,
    }
}

async fn pending_sign_ins_take_a_bounded_number_of_attempts_and_are_taken_once(store: Store) {
    let alice = user(&store, "alice").await;
    let requested = event("second_factor_requested", &alice);
    store.create_pending_sign_in(b"p1", &pending_of(&alice, NOW + 300), &requested).await.unwrap();
    let found = store.find_pending_sign_in(b"p1", NOW).await.unwrap().unwrap();
    assert_eq!((found.user_id.as_str(), found.remember, found.failures), (alice.as_str(), true, 0));
    assert!(store.find_pending_sign_in(b"p1", NOW + 300).await.unwrap().is_none(), "expired");

    // Sixteen attempts at once: five get one, numbered 1 to 5.
    let mut racers = JoinSet::new();
    for _ in 0..16 {
        let s = store.clone();
        racers.spawn(async move { s.claim_pending_attempt(b"p1", 5, NOW).await.unwrap() });
    }
    let mut claimed: Vec<u32> = racers.join_all().await.into_iter().flatten().collect();
    claimed.sort();
    assert_eq!(claimed, [1, 2, 3, 4, 5]);
    assert_eq!(
        store.pending_attempt_failed(b"p1", 4, 5).await.unwrap(),
        PendingFailure::Counted(4)
    );
    assert!(store.find_pending_sign_in(b"p1", NOW).await.unwrap().is_some());
    assert_eq!(store.pending_attempt_failed(b"p1", 5, 5).await.unwrap(), PendingFailure::Discarded);
    assert!(store.find_pending_sign_in(b"p1", NOW).await.unwrap().is_none());

    store.create_pending_sign_in(b"p2", &pending_of(&alice, NOW + 300), &requested).await.unwrap();
    let (s, won) = (store.clone(), 0);
    let won = won
        + winners(8, move || {
            let s = s.clone();
            async move { s.take_pending_sign_in(b"p2", NOW).await.unwrap() }
        })
        .await;
    assert_eq!(won, 1, "taken once");
    store.create_pending_sign_in(b"p3", &pending_of(&alice, NOW + 300), &requested).await.unwrap();
    assert!(!store.take_pending_sign_in(b"p3", NOW + 300).await.unwrap(), "not once expired");

    // At most three open per user: the oldest go first.
    for (i, id) in [b"q1", b"q2", b"q3"].iter().enumerate() {
        let pending =
            PendingSignIn { created_at: NOW + 1 + i as i64, ..pending_of(&alice, NOW + 300) };
        store.create_pending_sign_in(*id, &pending, &requested).await.unwrap();
    }
    assert!(store.find_pending_sign_in(b"p3", NOW).await.unwrap().is_none(), "the oldest went");
    for id in [b"q1", b"q2", b"q3"] {
        assert!(store.find_pending_sign_in(id, NOW).await.unwrap().is_some());
    }
    store.prune(NOW + 301, NOW - 86_400, 900, 0).await.unwrap();
    assert!(store.find_pending_sign_in(b"q3", NOW).await.unwrap().is_none(), "pruned");
}

async fn resetting_second_factors_removes_them_all_and_ends_the_sessions(store: Store) {
    let alice = user(&store, "alice").await;
    let sid = session(&store, &alice, NOW - 100, b"rt-alice").await;
    let hashes = codes(b'r');
    store.put_unconfirmed_totp(&alice, b"sealed", &sid, NOW).await.unwrap();
    let (amr, x) = (vec!["pwd".to_owned()], event("x", &alice));
    store.confirm_totp(&alice, 1, &new_factor(&sid, &hashes, &amr, &x)).await.unwrap();
    store
        .add_passkey(&passkey_of(&alice, b"cred", "Key"), &new_factor(&sid, &hashes, &amr, &x))
        .await
        .unwrap();
    let requested = event("second_factor_requested", &alice);
    store.create_pending_sign_in(b"p", &pending_of(&alice, NOW + 300), &requested).await.unwrap();
    let reset = event("second_factors_reset", &alice);
    assert_eq!(store.reset_second_factors(&alice, &reset, NOW + 300).await.unwrap(), (2, 1));
    assert!(store.find_session(&sid).await.unwrap().unwrap().ended_at.is_some());
    assert!(!store.has_second_factor(&alice).await.unwrap());
    assert!(store.totp_of(&alice).await.unwrap().is_none());
    assert!(store.passkeys_of(&alice).await.unwrap().is_empty());
    assert_eq!(store.recovery_codes_left(&alice).await.unwrap(), 0);
    assert!(store.find_pending_sign_in(b"p", NOW).await.unwrap().is_none());
    let filter = EventFilter {
        kind: Some("second_factors_reset".into()),
        limit: 10,
        ..EventFilter::default()
    };
    assert_eq!(store.audit_events(&filter).await.unwrap().len(), 1, "recorded with it");
}

/// Pruning a backlog goes in batches that each hold the writer briefly
/// (adapting their size to take ~20 ms here), not in one long `DELETE`.
async fn a_backlog_is_pruned_in_short_batches(db: &crate::helpers::TestDb) {
    use sqlx::Connection;
    const BACKLOG: i64 = 30_000;
    let store = db.store().await;
    let alice = user(&store, "alice").await;
    let live = session(&store, &alice, NOW, b"live").await;
    let fill = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BACKLOG})
         INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, remember, ended_at, end_reason)
         SELECT 'old-' || i, $1, $2, $2, $3, {}, $2, 'logout' FROM n",
        if db.url.starts_with("sqlite:") { "0" } else { "FALSE" }
    );
    let events = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BACKLOG})
         INSERT INTO audit_events (at, kind, detail) SELECT $1, 'sign_in', 'old-' || i FROM n"
    );
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(&fill)
            .bind(&alice)
            .bind(NOW - 10_000)
            .bind(NOW)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&events).bind(NOW - 10_000).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(&fill)
            .bind(&alice)
            .bind(NOW - 10_000)
            .bind(NOW)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&events).bind(NOW - 10_000).execute(&mut conn).await.unwrap();
    }
    let pruned = store.prune(NOW, NOW - 1_000, 900, NOW - 1_000).await.unwrap();
    eprintln!(
        "pruned {} rows in {} batches; the longest held the writer {:?}",
        pruned.rows, pruned.batches, pruned.longest
    );
    assert_eq!(pruned.rows, 2 * BACKLOG as u64);
    assert!(pruned.batches as i64 > 2 * BACKLOG / 4096, "batches of at most 4,096 rows");
    assert!(store.find_session("old-1").await.unwrap().is_none());
    assert!(store.find_session(&live).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_prunes_a_backlog_in_short_batches() {
    a_backlog_is_pruned_in_short_batches(&crate::helpers::TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_prunes_a_backlog_in_short_batches() {
    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
    a_backlog_is_pruned_in_short_batches(&db).await;
}
