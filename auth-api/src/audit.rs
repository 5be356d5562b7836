//! The audit log: every security event (sign-ins and their failures,
//! sign-outs, sessions ended, refresh-token reuse, password changes, users
//! created, keys rotated) written to the database with when, to whom, by
//! whom, in which session and from where. Users read their own on
//! `/account` (`GET /auth/events`), administrators everyone's
//! (`GET /admin/audit`, `auth-api audit`); housekeeping drops events older
//! than `AUDIT_RETENTION`.
//!
//! What is never written: passwords, tokens, and the username typed in a
//! failed sign-in that matches no user — people type their password into
//! the username field, and the log must not collect those.
//!
//! An event is written after the change it records, as its own statement:
//! if that write fails the request fails (503), so a change that went
//! through without its event is possible only when the database fails
//! between two statements, never silently.

use shared::AuditPage;

use crate::{
    domain::EventKind,
    error::ApiError,
    store::{EventFilter, NewEvent, SessionRecord, Store, UserRecord},
};

/// Who did it.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in user (or one signing in): id and name.
    User { id: &'a str, name: &'a str },
    /// An operator at the command line.
    Cli,
}

/// An event being put together; [`record`] writes it.
#[derive(Debug, Clone)]
pub struct Event(NewEvent);

impl Event {
    pub fn new(kind: EventKind, at: i64) -> Self {
        Self(NewEvent { at, kind: kind.as_str(), ..NewEvent::default() })
    }

    /// Whom it happened to.
    pub fn user(mut self, user: &UserRecord) -> Self {
        self.0.user_id = Some(user.id.clone());
        self.0.username = Some(user.username.clone());
        self
    }

    pub fn user_id(mut self, id: &str, name: &str) -> Self {
        self.0.user_id = Some(id.to_owned());
        self.0.username = Some(name.to_owned());
        self
    }

    pub fn actor(mut self, actor: Actor<'_>) -> Self {
        let (id, name) = match actor {
            Actor::User { id, name } => (Some(id.to_owned()), name.to_owned()),
            Actor::Cli => (None, "cli".to_owned()),
        };
        self.0.actor_id = id;
        self.0.actor_name = Some(name);
        self
    }

    pub fn session_id(mut self, id: &str) -> Self {
        self.0.session_id = Some(id.to_owned());
        self
    }

    /// The session, and the address and browser it was started from: for
    /// calls made with its access token, the best "from where" there is.
    pub fn session(mut self, session: &SessionRecord) -> Self {
        self.0.session_id = Some(session.id.clone());
        self.client(session.ip.as_deref(), session.user_agent.as_deref())
    }

    pub fn client(mut self, ip: Option<&str>, user_agent: Option<&str>) -> Self {
        self.0.ip = ip.map(str::to_owned);
        self.0.user_agent = user_agent.map(|ua| ua.chars().take(512).collect());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }
}

impl Event {
    /// The record, for a store method that writes it inside its own transaction.
    pub fn into_record(self) -> NewEvent {
        self.0
    }
}

pub async fn record(store: &Store, event: Event) -> Result<(), ApiError> {
    store.record_event(&event.0).await?;
    Ok(())
}

/// The paging part of an event filter: at most 200 a page, 50 by default.
pub fn page_of(before: Option<i64>, limit: Option<i64>) -> Result<EventFilter, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::InvalidRequest("limit must be between 1 and 200".into()));
    }
    Ok(EventFilter { before, limit, ..EventFilter::default() })
}

/// One page of events, with the cursor of the next when there may be one.
pub async fn page(store: &Store, filter: EventFilter) -> Result<AuditPage, ApiError> {
    let limit = filter.limit;
    let events = store.audit_events(&filter).await?;
    let full = events.len() as i64 == limit;
    let next_before = if full { events.last().map(|e| e.id) } else { None };
    Ok(AuditPage { events, next_before })
}
