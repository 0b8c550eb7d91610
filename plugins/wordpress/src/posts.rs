//! The `posts` polling trigger: new and updated posts (or pages), drafts and private ones
//! included, incrementally.
//!
//! WordPress offers `modified_after` but no tie-break on `modified`, and `modified_gmt` can lie
//! in the future (scheduled posts) or the past (posts inserted with a back-dated date). So:
//!
//! - every read is ordered by id (a unique key), so pages never shuffle;
//! - a *cycle* reads every post modified since the watermark `after` (all posts on the first
//!   poll), one or more polls long; the watermark then moves to the newest modification seen
//!   that is older than the cycle's start (the site's clock, from `Date`), never into the future;
//! - `seen` remembers each post emitted at or after the watermark with a fingerprint (its
//!   `modified_gmt` and a hash of its content), so a post is emitted again only when it changes —
//!   several posts sharing a second, scheduled posts, posts edited while a cycle runs and posts
//!   edited twice within one second (WordPress keeps whole seconds) are neither missed nor
//!   repeated;
//! - at the end of a cycle, posts with ids above the highest one known but a modification time
//!   below the watermark (back-dated inserts) are picked up by a read in descending id order.

use std::collections::BTreeMap;

use heph_sdk::http::Request;
use heph_sdk::paging::{self, fetch_pages};
use heph_sdk::{time, Context, Error, Item, Page, Value};
use serde::{Deserialize, Serialize};

use crate::api;

/// WordPress's largest page size.
const PER_PAGE: u32 = 100;
/// How far before the watermark a read starts: the query compares in the site's local time,
/// and a daylight-saving change can move the offset by an hour since it was learned.
const LOCAL_TIME_MARGIN: i64 = 3601;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// Watermark (`modified_gmt`): every change older than this has been emitted.
    #[serde(default)]
    after: Option<String>,
    /// Posts emitted at or after the watermark: id → fingerprint (`modified_gmt#hash`).
    #[serde(default)]
    seen: BTreeMap<u64, String>,
    /// Site local time minus GMT, in seconds, learned from the posts.
    #[serde(default)]
    offset: i64,
    /// The highest post id known.
    #[serde(default)]
    max_id: u64,
    /// A cycle in progress.
    #[serde(default)]
    cycle: Option<Cycle>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cycle {
    next_page: u32,
    total_pages: u32,
    /// The site's clock when the cycle began.
    started: String,
    /// The highest id known when the cycle began.
    start_max_id: u64,
    /// The newest modification below `started` seen so far, and the posts at it.
    high: Option<String>,
    top: BTreeMap<u64, String>,
    /// Posts modified at or after `started` (edited during the cycle, or scheduled).
    recent: BTreeMap<u64, String>,
}

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default = "default_type")]
    post_type: String,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}

fn default_type() -> String {
    "posts".into()
}

fn default_concurrency() -> usize {
    4
}

/// Every post of every status, as the edit context shows it, `PER_PAGE` at a time in id order.
fn list(r: Request, order: &str) -> Request {
    r.query("context", "edit")
        .query("status", "any")
        .query("per_page", PER_PAGE)
        .query("orderby", "id")
        .query("order", order)
}

/// Reads the next page of the trigger.
pub fn poll(ctx: &Context, config: Value, cursor: Option<String>) -> Result<Page, Error> {
    let config: Config = serde_json::from_value(config)
        .map_err(|e| Error::InvalidInput(format!("the trigger's configuration: {e}")))?;
    if !matches!(config.post_type.as_str(), "posts" | "pages") {
        return Err(Error::bad_field("post_type", "`posts` or `pages`"));
    }
    let mut cursor: Cursor = paging::decode(cursor.as_deref())?;
    let path = format!("/wp/v2/{}", config.post_type);
    let route = api::route(ctx, &path)?;
    let modified_after = cursor
        .after
        .as_deref()
        .and_then(time::parse_iso)
        .map(|after| time::format_iso(after + cursor.offset - LOCAL_TIME_MARGIN));
    let query = |r: Request| {
        let r = list(r, "asc");
        match &modified_after {
            Some(after) => r.query("modified_after", after),
            None => r,
        }
    };

    let mut cycle = cursor.cycle.take().unwrap_or(Cycle {
        next_page: 1,
        start_max_id: cursor.max_id,
        ..Cycle::default()
    });
    let mut posts = Vec::new();
    let mut pages = 0;
    if cycle.total_pages == 0 {
        let first = route
            .send("GET", |r| query(r).query("page", cycle.next_page))
            .map_err(unauthorized_status)?;
        cycle.total_pages = api::total_pages(&first).max(1);
        cycle.started = api::server_now(&first).unwrap_or_else(|| "9999-12-31T23:59:59".into());
        posts.extend(api::items(&first)?);
        cycle.next_page += 1;
        pages = 1;
    }
    let last = cycle
        .total_pages
        .min(cycle.next_page + (config.concurrency.max(1) - pages) as u32 - 1);
    if cycle.next_page <= last {
        let answers = fetch_pages(
            cycle.next_page,
            last,
            config.concurrency,
            route.page_request(query),
            past_last_page,
        )?;
        for answer in answers {
            posts.extend(api::items(&answer)?);
        }
        cycle.next_page = last + 1;
    }

    let mut items = Vec::new();
    for post in posts {
        if let Some(item) = observe(&mut cursor, &mut cycle, post)? {
            items.push(item);
        }
    }
    let has_more = cycle.next_page <= cycle.total_pages;
    if has_more {
        cursor.cycle = Some(cycle);
    } else {
        if cursor.after.is_some() {
            items.extend(back_dated(&route, &cursor, &cycle)?);
        }
        finish_cycle(&mut cursor, cycle);
    }
    Ok(Page {
        items,
        cursor: Some(paging::encode(&cursor)),
        has_more,
    })
}

/// `modified_gmt#hash-of-the-post`: what tells one version of a post from another.
fn fingerprint(gmt: &str, post: &Value) -> String {
    // FNV-1a over the post's JSON (serde_json writes object keys in a fixed order).
    let hash = post
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{gmt}#{hash:016x}")
}

/// The `modified_gmt` part of a fingerprint.
fn stamp(fingerprint: &str) -> &str {
    fingerprint.split('#').next().unwrap_or("")
}

/// Records one post of the cycle; returns it as an item unless it was already emitted as it is.
fn observe(cursor: &mut Cursor, cycle: &mut Cycle, post: Value) -> Result<Option<Item>, Error> {
    let id = post
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Permanent("WordPress returned a post without an id".into()))?;
    let gmt = post
        .get("modified_gmt")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let (Some(local), Some(g)) = (
        post.get("modified")
            .and_then(Value::as_str)
            .and_then(time::parse_iso),
        time::parse_iso(&gmt),
    ) {
        cursor.offset = local - g;
    }
    cursor.max_id = cursor.max_id.max(id);
    if cursor
        .after
        .as_deref()
        .is_some_and(|after| gmt.as_str() < after)
    {
        // Re-read only because of the local-time margin: emitted in an earlier cycle.
        return Ok(None);
    }
    let print = fingerprint(&gmt, &post);
    let already = cursor.seen.get(&id) == Some(&print);
    if gmt >= cycle.started {
        cycle.recent.insert(id, print);
    } else if cycle.high.as_deref().is_none_or(|high| gmt.as_str() > high) {
        cycle.high = Some(gmt);
        cycle.top = BTreeMap::from([(id, print)]);
    } else if cycle.high.as_deref() == Some(gmt.as_str()) {
        cycle.top.insert(id, print);
    }
    Ok((!already).then(|| Item::new(id, post)))
}

/// Moves the watermark to the newest modification before the cycle began.
fn finish_cycle(cursor: &mut Cursor, cycle: Cycle) {
    let after = match (&cursor.after, &cycle.high) {
        (Some(old), Some(high)) if high < old => Some(old.clone()),
        (_, Some(high)) => Some(high.clone()),
        (old, None) => old.clone(),
    };
    // Posts at the old watermark that this cycle did not read again stay remembered; what the
    // cycle read replaces what was remembered of the same post.
    let mut seen: BTreeMap<u64, String> = std::mem::take(&mut cursor.seen);
    seen.extend(cycle.recent);
    if after == cycle.high {
        seen.extend(cycle.top);
    }
    if let Some(after) = &after {
        seen.retain(|_, print| stamp(print) >= after.as_str());
    }
    cursor.after = after;
    cursor.seen = seen;
}

/// New posts whose modification time lies below the watermark (inserted with a past date):
/// ids and times are read in descending id order down to the highest id known when the cycle
/// began (`_fields` keeps that cheap), then the posts found are fetched whole.
fn back_dated(route: &api::Route, cursor: &Cursor, cycle: &Cycle) -> Result<Vec<Item>, Error> {
    let Some(after) = &cursor.after else {
        return Ok(vec![]);
    };
    let mut ids = Vec::new();
    for page in 1..=20u32 {
        let answer = route.send("GET", |r| {
            list(r, "desc")
                .query("_fields", "id,modified_gmt")
                .query("page", page)
        });
        let posts = match answer {
            Ok(answer) => api::items(&answer)?,
            Err(Error::InvalidInput(m)) if m.contains("rest_post_invalid_page_number") => vec![],
            Err(e) => return Err(e),
        };
        let count = posts.len();
        let mut reached_known = false;
        for post in posts {
            let id = post.get("id").and_then(Value::as_u64).unwrap_or(0);
            if id <= cycle.start_max_id {
                reached_known = true;
                break;
            }
            let gmt = post
                .get("modified_gmt")
                .and_then(Value::as_str)
                .unwrap_or("");
            if gmt < after.as_str() {
                ids.push(id);
            }
        }
        if reached_known || count < PER_PAGE as usize {
            break;
        }
    }
    let mut found = Vec::new();
    for chunk in ids.chunks(PER_PAGE as usize) {
        let include = chunk
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let answer = route.send("GET", |r| list(r, "asc").query("include", &include))?;
        for post in api::items(&answer)? {
            let id = post.get("id").and_then(Value::as_u64).unwrap_or(0);
            found.push(Item::new(id, post));
        }
    }
    Ok(found)
}

/// `status=any` is refused with 400 `rest_invalid_param` when WordPress did not accept the
/// credentials (it then serves an anonymous visitor) or the user may not read unpublished posts:
/// either way the connection lacks rights, which is what the engine must hear.
fn unauthorized_status(error: Error) -> Error {
    match error {
        Error::InvalidInput(m) if m.contains("rest_invalid_param") && m.contains("status") => Error::Unauthorized(format!(
            "{m} (WordPress ignored the credentials, or the user may not read drafts and private posts: check the Application Password and that the user can edit posts)"
        )),
        other => other,
    }
}

/// Past the last page WordPress answers 400 `rest_post_invalid_page_number` (the total shrank
/// while reading): that page is simply empty.
fn past_last_page(response: heph_sdk::http::Response) -> Result<heph_sdk::http::Response, Error> {
    if response.status == 400
        && api::wp_error_code(&response).as_deref() == Some("rest_post_invalid_page_number")
    {
        return Ok(heph_sdk::http::Response {
            status: 200,
            body: b"[]".to_vec(),
            ..response
        });
    }
    api::check(response)
}
