-- A throttled sign-in asks whether the user's account already shows a
-- refusal in this window: one probe of this index, not a scan of their events.
CREATE INDEX audit_events_lookup ON audit_events(user_id, kind, at);
