//! Diesel schema, the same for SQLite and PostgreSQL (see `migrations/{sqlite,postgres}`).

diesel::table! {
    received_events (site_id, source_id, event_id) {
        site_id -> Text,
        source_id -> Text,
        event_id -> Text,
        fingerprint -> Text,
        kind -> Integer,
        ticket_id -> Text,
        occurred_at -> BigInt,
        status -> Integer,
        session_id -> Nullable<Text>,
        detail -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    ticket_steps (id) {
        site_id -> Text,
        id -> BigInt,
        source_id -> Text,
        ticket_id -> Text,
        event_id -> Text,
        occurred_at -> BigInt,
        kind -> Integer,
        counter_id -> Text,
        service_code -> Text,
        transfer_to_service -> Text,
        display_number -> Text,
        operator_ref -> Nullable<Text>,
    }
}

diesel::table! {
    tickets (site_id, source_id, ticket_id) {
        site_id -> Text,
        source_id -> Text,
        ticket_id -> Text,
        display_number -> Text,
        service_code -> Text,
        state -> Text,
        counter_id -> Text,
        first_at -> BigInt,
        issued_at -> Nullable<BigInt>,
        first_called_at -> Nullable<BigInt>,
        last_called_at -> Nullable<BigInt>,
        service_started_at -> Nullable<BigInt>,
        served_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        recalls -> Integer,
        transfers -> Integer,
        reset -> Bool,
        spans_midnight -> Bool,
        waiting_ms -> Nullable<BigInt>,
        service_ms -> Nullable<BigInt>,
        last_at -> BigInt,
        operator_ref -> Nullable<Text>,
    }
}

diesel::table! {
    counters (site_id, counter_id) {
        site_id -> Text,
        counter_id -> Text,
        open -> Bool,
        source_id -> Text,
        ticket_id -> Text,
        ticket_state -> Text,
        changed_at -> BigInt,
        last_call_at -> Nullable<BigInt>,
        last_call_ticket -> Text,
        operator_ref -> Nullable<Text>,
    }
}

diesel::table! {
    vote_sessions (session_id) {
        site_id -> Text,
        session_id -> Text,
        source_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        service_code -> Text,
        channel -> Text,
        token -> BigInt,
        served_at -> BigInt,
        opened_at -> BigInt,
        expires_at -> BigInt,
        state -> Text,
        keypad -> Text,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    votes (session_id) {
        site_id -> Text,
        session_id -> Text,
        source_id -> Text,
        ticket_id -> Text,
        counter_id -> Text,
        service_code -> Text,
        channel -> Text,
        face -> Integer,
        reason -> Nullable<Integer>,
        waiting_ms -> Nullable<BigInt>,
        service_ms -> Nullable<BigInt>,
        voted_at -> BigInt,
    }
}

diesel::table! {
    event_log (seq) {
        site_id -> Text,
        seq -> BigInt,
        at -> BigInt,
        kind -> Integer,
        source_id -> Text,
        counter_id -> Text,
        service_code -> Text,
        ticket_id -> Text,
        display_number -> Text,
        ticket_event -> Integer,
        session_id -> Text,
        outcome -> Integer,
        detail -> Text,
        reason -> Integer,
        keypad_state -> Integer,
        figure_a -> BigInt,
        figure_b -> BigInt,
        fact_text -> Text,
    }
}

diesel::table! {
    /// Votes by local month (YYYYMM), counter, service, channel, face and reason (0: none).
    report_votes (site_id, month, counter_id, service_code, channel, face, reason) {
        site_id -> Text,
        month -> Integer,
        counter_id -> Text,
        service_code -> Text,
        channel -> Text,
        face -> Integer,
        reason -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    /// Served tickets by local month (YYYYMM), counter and service, with the waiting sums.
    report_tickets (site_id, month, counter_id, service_code) {
        site_id -> Text,
        month -> Integer,
        counter_id -> Text,
        service_code -> Text,
        served -> BigInt,
        counted -> BigInt,
        total_ms -> BigInt,
        flagged -> BigInt,
    }
}

diesel::table! {
    /// The counted waiting times by local month and service, in whole seconds rounded up.
    report_waits (site_id, month, service_code, wait_s) {
        site_id -> Text,
        month -> Integer,
        service_code -> Text,
        wait_s -> BigInt,
        n -> BigInt,
    }
}

diesel::table! {
    /// What the rollups were built with (`time_zone`, `version`).
    report_meta (site_id, key) {
        site_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    sites (site_id) {
        site_id -> Text,
        name -> Text,
        time_zone -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// `faccia db copy`: where each copied site's history came from and how far the copy got.
    site_copies (site_id) {
        site_id -> Text,
        source -> Text,
        stage -> Text,
        last_key -> Text,
        copied -> BigInt,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Single-use web vote links (only the token's hash).
    vote_links (token_hash) {
        token_hash -> Text,
        site_id -> Text,
        session_id -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The raw AGID form answer given with a web vote.
    vote_answers (session_id) {
        session_id -> Text,
        site_id -> Text,
        stars -> Integer,
        follow_up -> Nullable<Integer>,
        answered_at -> BigInt,
    }
}

diesel::table! {
    /// Free text left with a web vote, kept apart and deleted after `keep_until`.
    vote_comments (session_id) {
        session_id -> Text,
        site_id -> Text,
        body -> Text,
        written_at -> BigInt,
        keep_until -> BigInt,
    }
}

diesel::joinable!(votes -> vote_sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(
    received_events,
    ticket_steps,
    tickets,
    counters,
    vote_sessions,
    votes,
    event_log,
    report_votes,
    report_tickets,
    report_waits,
    report_meta,
    sites,
    site_copies,
    vote_links,
    vote_answers,
    vote_comments,
);
