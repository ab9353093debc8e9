//! The sites (offices) of a database: the `sites` table, and the adoption of the rows of a
//! database from before sites.
//!
//! Every row of every table belongs to one site (`site_id`). The migration that brought sites
//! in gave the rows it found `site_id = ''` (legacy rows: one office's history, whose site the
//! database cannot know). The first time a store is opened for exactly one site on such a
//! database, and no other site has registered there yet, that site adopts them: one
//! transaction gives every legacy row its id (the one update the append-only tables allow).
//! Anything else is refused with [`StoreError::Legacy`], which says what to do.

use diesel::prelude::*;
use faccia_domain::Millis;

use crate::conn::{self, AnyConnection};
use crate::schema::{
    counters, event_log, received_events, sites, ticket_steps, tickets, vote_sessions, votes,
};
use crate::{Rules, StoreError};

/// A row of `sites`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub site_id: String,
    pub name: String,
    pub time_zone: String,
    pub updated_at: Millis,
}

/// Every site registered in the database, by id.
pub fn list(c: &mut AnyConnection) -> Result<Vec<SiteRow>, StoreError> {
    Ok(sites::table
        .order(sites::site_id)
        .select(SiteRow::as_select())
        .load(c)?)
}

/// Rows of each table still without a site (from before sites).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyRows {
    pub tickets: i64,
    pub votes: i64,
    pub log_entries: i64,
    pub other: i64,
}

impl LegacyRows {
    pub fn any(&self) -> bool {
        self.tickets + self.votes + self.log_entries + self.other > 0
    }
}

/// Counts the legacy rows (site_id '').
pub fn legacy_rows(c: &mut AnyConnection) -> Result<LegacyRows, StoreError> {
    let mut rows = LegacyRows::default();
    for table in crate::copy::TABLES {
        let n = crate::copy::count(c, table, "")?;
        match table {
            "tickets" => rows.tickets = n,
            "votes" => rows.votes = n,
            "event_log" => rows.log_entries = n,
            _ => rows.other += n,
        }
    }
    Ok(rows)
}

/// Gives every legacy row the site `site`. Returns what it adopted.
pub fn adopt(c: &mut AnyConnection, site: &str) -> Result<LegacyRows, StoreError> {
    let found = legacy_rows(c)?;
    diesel::update(received_events::table.filter(received_events::site_id.eq("")))
        .set(received_events::site_id.eq(site))
        .execute(c)?;
    diesel::update(ticket_steps::table.filter(ticket_steps::site_id.eq("")))
        .set(ticket_steps::site_id.eq(site))
        .execute(c)?;
    diesel::update(tickets::table.filter(tickets::site_id.eq("")))
        .set(tickets::site_id.eq(site))
        .execute(c)?;
    diesel::update(counters::table.filter(counters::site_id.eq("")))
        .set(counters::site_id.eq(site))
        .execute(c)?;
    diesel::update(vote_sessions::table.filter(vote_sessions::site_id.eq("")))
        .set(vote_sessions::site_id.eq(site))
        .execute(c)?;
    diesel::update(votes::table.filter(votes::site_id.eq("")))
        .set(votes::site_id.eq(site))
        .execute(c)?;
    diesel::update(event_log::table.filter(event_log::site_id.eq("")))
        .set(event_log::site_id.eq(site))
        .execute(c)?;
    Ok(found)
}

/// Records (or refreshes) a site's name and time zone.
pub fn register(c: &mut AnyConnection, row: &SiteRow) -> Result<(), StoreError> {
    let n = diesel::update(sites::table.find(&row.site_id))
        .set(row)
        .execute(c)?;
    if n == 0 {
        diesel::insert_into(sites::table).values(row).execute(c)?;
    }
    Ok(())
}

/// What `Store::open_sites` does before it starts: legacy rows adopted when that is safe,
/// every site registered; in one transaction.
pub fn prepare(c: &mut AnyConnection, opening: &[Rules], now: Millis) -> Result<(), StoreError> {
    c.transaction(|c| {
        conn::lock_writers(c)?;
        let legacy = legacy_rows(c)?;
        if legacy.any() {
            let known = list(c)?;
            let ids: Vec<&str> = opening.iter().map(|r| r.site_id.as_str()).collect();
            let others: Vec<&str> = known
                .iter()
                .map(|s| s.site_id.as_str())
                .filter(|id| !ids.contains(id))
                .collect();
            match (opening, others.as_slice()) {
                ([only], []) => {
                    let got = adopt(c, &only.site_id)?;
                    tracing::warn!(
                        site = %only.site_id,
                        tickets = got.tickets,
                        votes = got.votes,
                        log_entries = got.log_entries,
                        "the office's history from before sites now belongs to this site"
                    );
                }
                ([_], _) => {
                    return Err(StoreError::Legacy(format!(
                        "the database holds an office's history from before sites ({} tickets, \
                         {} votes) and other sites ({}) use it already: start the office it \
                         belongs to alone on it first",
                        legacy.tickets,
                        legacy.votes,
                        others.join(", ")
                    )))
                }
                _ => {
                    return Err(StoreError::Legacy(format!(
                        "the database holds an office's history from before sites ({} tickets, \
                         {} votes): start faccia once with only the site it belongs to \
                         configured, then add the others",
                        legacy.tickets, legacy.votes
                    )))
                }
            }
        }
        let ids: Vec<&str> = opening.iter().map(|r| r.site_id.as_str()).collect();
        if let Some(p) = crate::copy::unfinished(c, &ids)?.first() {
            return Err(StoreError::Copy(format!(
                "the history of site {} is being copied into this database from {} and the \
                 copy is not finished: run `faccia db copy` again to finish it before serving \
                 the site",
                p.site_id, p.source
            )));
        }
        for r in opening {
            register(
                c,
                &SiteRow {
                    site_id: r.site_id.clone(),
                    name: r.site_name.clone(),
                    time_zone: r.time_zone.name().to_string(),
                    updated_at: now,
                },
            )?;
        }
        Ok(())
    })
}
