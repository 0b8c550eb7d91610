//! Cursors and page fetching for polling triggers.
//!
//! A cursor is opaque to the host: any string the connector can read back. [`encode`] and
//! [`decode`] keep it as JSON of a connector-defined struct, so it can evolve with
//! `#[serde(default)]` fields.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::{send_all, Request, Response};
use crate::Error;

/// Serialises a cursor struct.
pub fn encode<T: Serialize>(cursor: &T) -> String {
    serde_json::to_string(cursor).unwrap_or_default()
}

/// Reads back a cursor; `None` (first poll) gives `T::default()`. A cursor that does not parse
/// is an `invalid-input` error rather than a silent restart from scratch.
pub fn decode<T: DeserializeOwned + Default>(cursor: Option<&str>) -> Result<T, Error> {
    match cursor {
        None => Ok(T::default()),
        Some(text) if text.trim().is_empty() => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("the cursor `{text}` is not valid: {e}"))),
    }
}

/// Fetches numbered pages `first..=last` at most `concurrency` at a time, each built by
/// `request(page)` and checked by `check` (such as [`Response::error_for_status`]), and returns
/// the answers in page order; the first failure is the error. Used once the first page has told
/// how many pages there are.
pub fn fetch_pages(
    first: u32,
    last: u32,
    concurrency: usize,
    request: impl Fn(u32) -> Request,
    check: impl Fn(Response) -> Result<Response, Error>,
) -> Result<Vec<Response>, Error> {
    let pages: Vec<u32> = (first..=last).collect();
    let mut out = Vec::with_capacity(pages.len());
    for batch in pages.chunks(concurrency.max(1)) {
        for answer in send_all(batch.iter().map(|p| request(*p)).collect()) {
            out.push(check(answer?)?);
        }
    }
    Ok(out)
}
