//! The data store: each user's named collections of JSON records keyed by id. Upserts are
//! idempotent by key, which is what lets a resumed run process an item again without
//! duplicating it.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{now_ms, Store, StoreError};

/// One record.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Its key.
    pub id: String,
    /// Its value.
    pub data: Value,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A collection and its size.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// Its name.
    pub name: String,
    /// How many records it holds.
    pub records: i64,
    /// The last write (Unix ms).
    pub updated_at: i64,
}

/// The largest record (its JSON text): a data store holds records, not files.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Refuses a record over [`MAX_RECORD_BYTES`], saying how large it is.
pub fn check_record_size(collection: &str, id: &str, data: &Value) -> Result<(), StoreError> {
    let size = serde_json::to_vec(data).map_or(usize::MAX, |v| v.len());
    if size > MAX_RECORD_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the record `{id}` of `{collection}` is {} KiB; a record holds at most {} KiB",
            size.div_ceil(1024),
            MAX_RECORD_BYTES / 1024
        )));
    }
    Ok(())
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Record, StoreError> {
    let data: String = row.try_get("data")?;
    Ok(Record {
        id: row.try_get("id")?,
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("record: {e}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Inserts or replaces a record.
    pub async fn put_record(
        &self,
        user_id: &str,
        collection: &str,
        id: &str,
        data: &Value,
    ) -> Result<(), StoreError> {
        check_record_size(collection, id, data)?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO records (user_id, collection, id, data, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id, collection, id) \
             DO UPDATE SET data = $4, updated_at = $5",
        )
        .bind(user_id)
        .bind(collection)
        .bind(id)
        .bind(data.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One record.
    pub async fn record(
        &self,
        user_id: &str,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record>, StoreError> {
        sqlx::query(
            "SELECT id, data, created_at, updated_at FROM records WHERE user_id = $1 AND collection = $2 AND id = $3",
        )
        .bind(user_id)
        .bind(collection)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Deletes a record; true if it was there.
    pub async fn delete_record(
        &self,
        user_id: &str,
        collection: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM records WHERE user_id = $1 AND collection = $2 AND id = $3")
                .bind(user_id)
                .bind(collection)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records of a collection in key order, after `after`.
    pub async fn records(
        &self,
        user_id: &str,
        collection: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Record>, StoreError> {
        sqlx::query(
            "SELECT id, data, created_at, updated_at FROM records WHERE user_id = $1 AND collection = $2 \
             AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(user_id)
        .bind(collection)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// How many records a collection holds.
    pub async fn count_records(&self, user_id: &str, collection: &str) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM records WHERE user_id = $1 AND collection = $2")
                .bind(user_id)
                .bind(collection)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// A user's collections.
    pub async fn collections(&self, user_id: &str) -> Result<Vec<Collection>, StoreError> {
        sqlx::query(
            "SELECT collection, COUNT(*) AS n, MAX(updated_at) AS updated FROM records \
             WHERE user_id = $1 GROUP BY collection ORDER BY collection",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Collection {
                name: row.try_get("collection")?,
                records: row.try_get("n")?,
                updated_at: row.try_get("updated")?,
            })
        })
        .collect()
    }
}
