//! The `users` polling trigger. WordPress users have no modification time, so the first poll
//! (and a periodic reconciliation, every `full_sync_hours`) reads every user in id order, and
//! the polls in between read only users with ids above the highest one known.

use heph_sdk::http::Request;
use heph_sdk::paging::{self, fetch_pages};
use heph_sdk::{time, Context, Error, Item, Page, Value};
use serde::{Deserialize, Serialize};

use crate::api;

const PER_PAGE: u32 = 100;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// The highest user id emitted.
    #[serde(default)]
    max_id: u64,
    /// When the last full read began (site clock, Unix seconds).
    #[serde(default)]
    last_full: Option<i64>,
    /// A full read in progress: the next page and the page count.
    #[serde(default)]
    full: Option<(u32, u32, i64)>,
}

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default = "default_hours")]
    full_sync_hours: u32,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}

fn default_hours() -> u32 {
    24
}

fn default_concurrency() -> usize {
    4
}

fn list(r: Request, order: &str) -> Request {
    r.query("context", "edit")
        .query("per_page", PER_PAGE)
        .query("orderby", "id")
        .query("order", order)
}

/// Reads the next page of the trigger.
pub fn poll(ctx: &Context, config: Value, cursor: Option<String>) -> Result<Page, Error> {
    let config: Config = serde_json::from_value(config)
        .map_err(|e| Error::InvalidInput(format!("the trigger's configuration: {e}")))?;
    let mut cursor: Cursor = paging::decode(cursor.as_deref())?;
    let route = api::route(ctx, "/wp/v2/users")?;

    let (next, total, started) = match cursor.full {
        Some(full) => full,
        None => {
            // Is a full read due? Ask for the newest users first: that answer also serves an
            // incremental poll, and carries the site's clock.
            let newest = route.send("GET", |r| list(r, "desc").query("page", 1))?;
            let now = api::server_now(&newest)
                .and_then(|d| time::parse_iso(&d))
                .unwrap_or(0);
            let due = cursor
                .last_full
                .is_none_or(|last| now - last >= i64::from(config.full_sync_hours) * 3600);
            if !due {
                return incremental(&route, &mut cursor, api::items(&newest)?);
            }
            (1, api::total_pages(&newest).max(1), now)
        }
    };
    let last = total.min(next + config.concurrency.max(1) as u32 - 1);
    let answers = fetch_pages(
        next,
        last,
        config.concurrency,
        route.page_request(|r| list(r, "asc")),
        api::check,
    )?;
    let mut items = Vec::new();
    for answer in answers {
        for user in api::items(&answer)? {
            let id = user.get("id").and_then(Value::as_u64).unwrap_or(0);
            cursor.max_id = cursor.max_id.max(id);
            items.push(Item::new(id, user));
        }
    }
    let has_more = last < total;
    if has_more {
        cursor.full = Some((last + 1, total, started));
    } else {
        cursor.full = None;
        cursor.last_full = Some(started);
    }
    Ok(Page {
        items,
        cursor: Some(paging::encode(&cursor)),
        has_more,
    })
}

/// Users with ids above the highest one known, oldest first.
fn incremental(route: &api::Route, cursor: &mut Cursor, first: Vec<Value>) -> Result<Page, Error> {
    let known = cursor.max_id;
    let mut found = Vec::new();
    let mut users = first;
    for page in 2..=50u32 {
        let count = users.len();
        let mut reached_known = false;
        for user in users {
            let id = user.get("id").and_then(Value::as_u64).unwrap_or(0);
            if id <= known {
                reached_known = true;
                break;
            }
            found.push(Item::new(id, user));
        }
        if reached_known || count < PER_PAGE as usize {
            break;
        }
        users = api::items(&route.send("GET", |r| list(r, "desc").query("page", page))?)?;
    }
    found.reverse();
    if let Some(newest) = found.last() {
        cursor.max_id = newest.id.parse().unwrap_or(known);
    }
    Ok(Page {
        items: found,
        cursor: Some(paging::encode(cursor)),
        has_more: false,
    })
}
