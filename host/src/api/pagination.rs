//! Cursor pagination of lists: `?limit=N&cursor=C`; the answer carries `next_cursor`, absent on
//! the last page. A cursor is opaque to callers: it names the last item of the page (its
//! creation time and id), so pages stay right while items are added or deleted.

use base64::Engine as _;
use serde::Deserialize;

use crate::app::AppError;

/// The query of a paged list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size; one outside 1–1000 is refused.
    pub fn limit(&self) -> Result<usize, AppError> {
        limit(self.limit, 100, 1000).map(|n| n as usize)
    }

    /// The position the cursor names: (creation time, id).
    pub fn position(&self) -> Result<Option<(i64, String)>, AppError> {
        position(self.cursor.as_deref())
    }
}

/// A page size from a query: `default` when absent; outside 1–`max` it is a 400, as the
/// document says, rather than quietly another size.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, AppError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(AppError::invalid(format!(
            "`limit` is {n}; it must be 1–{max}"
        ))),
    }
}

/// The position a cursor names: (creation time, id); none for no cursor.
pub fn position(cursor: Option<&str>) -> Result<Option<(i64, String)>, AppError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad =
        || AppError::invalid("`cursor` is not one this API gave (use `next_cursor` as it came)");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((at.parse().map_err(|_| bad())?, id.to_string())))
}

/// The cursor of a position.
pub fn cursor(created_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

/// One page of a list held in memory, in (creation time, id) order, and the next cursor.
pub fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (i64, String),
    query: &PageQuery,
) -> Result<(Vec<T>, Option<String>), AppError> {
    items.sort_by_key(|item| key(item));
    let start = match query.position()? {
        Some(position) => items.partition_point(|item| key(item) <= position),
        None => 0,
    };
    let limit = query.limit()?;
    let rest = items.split_off(start);
    let more = rest.len() > limit;
    let page: Vec<T> = rest.into_iter().take(limit).collect();
    let next = if more {
        page.last().map(|item| {
            let (at, id) = key(item);
            cursor(at, &id)
        })
    } else {
        None
    };
    Ok((page, next))
}

/// Adds `next_cursor` to a page's answer, when there is a next page.
pub fn with_cursor(mut answer: serde_json::Value, next: Option<String>) -> serde_json::Value {
    if let Some(next) = next {
        answer["next_cursor"] = serde_json::Value::String(next);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() -> Result<(), AppError> {
        let items: Vec<(i64, String)> = (0..7).map(|i| (i / 2, format!("id{i}"))).collect();
        let mut seen = Vec::new();
        let mut query = PageQuery {
            limit: Some(3),
            cursor: None,
        };
        loop {
            let (page, next) = page(items.clone(), |i| i.clone(), &query)?;
            seen.extend(page);
            match next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        for refused in [0, -1, 1001] {
            let query = PageQuery {
                limit: Some(refused),
                cursor: None,
            };
            assert!(page(items.clone(), |i| i.clone(), &query).is_err());
        }
        let bad = PageQuery {
            limit: None,
            cursor: Some("nonsense!".into()),
        };
        assert_eq!(
            page(items, |i| i.clone(), &bad).unwrap_err().code,
            "invalid_input"
        );
        Ok(())
    }
}
