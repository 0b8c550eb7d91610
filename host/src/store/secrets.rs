//! Sealed secrets: the vault's ciphertexts, one row per (owner, field). The owner names the
//! row a secret belongs to (`connection/con_…`, `oauth_app/notion`); the vault binds each
//! ciphertext to that owner and field, so a row copied elsewhere does not decrypt.

use sqlx::{AnyConnection, Row};

use super::{now_ms, Store, StoreError};

/// A value as the vault sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The key it was sealed with.
    pub key_id: String,
    /// The AES-GCM nonce (12 bytes).
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed(key {}, {} bytes)",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

/// A sealed value with where it lives.
#[derive(Debug, Clone)]
pub struct SealedRow {
    /// The owning row.
    pub owner: String,
    /// The field.
    pub field: String,
    /// The value.
    pub sealed: Sealed,
}

fn sealed_from(row: &sqlx::any::AnyRow) -> Result<Sealed, StoreError> {
    Ok(Sealed {
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}

/// Writes (or replaces) sealed values, inside the caller's transaction.
pub(super) async fn put(
    conn: &mut AnyConnection,
    owner: &str,
    values: &[(String, Sealed)],
) -> Result<(), StoreError> {
    let now = now_ms();
    for (field, sealed) in values {
        sqlx::query(
            "INSERT INTO secrets (owner, field, key_id, nonce, ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (owner, field) DO UPDATE SET key_id = $3, nonce = $4, \
             ciphertext = $5, updated_at = $6",
        )
        .bind(owner)
        .bind(field.as_str())
        .bind(sealed.key_id.as_str())
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes some of an owner's values (or all when `fields` is `None`), inside a transaction.
pub(super) async fn delete(
    conn: &mut AnyConnection,
    owner: &str,
    fields: Option<&[String]>,
) -> Result<(), StoreError> {
    match fields {
        None => {
            sqlx::query("DELETE FROM secrets WHERE owner = $1")
                .bind(owner)
                .execute(&mut *conn)
                .await?;
        }
        Some(fields) => {
            for field in fields {
                sqlx::query("DELETE FROM secrets WHERE owner = $1 AND field = $2")
                    .bind(owner)
                    .bind(field.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Writes sealed values for an owner.
    pub async fn put_secrets(
        &self,
        owner: &str,
        values: &[(String, Sealed)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        put(&mut tx, owner, values).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every value of an owner.
    pub async fn delete_secrets(&self, owner: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        delete(&mut conn, owner, None).await
    }

    /// Every sealed value of an owner, by field.
    pub async fn secrets_of(&self, owner: &str) -> Result<Vec<(String, Sealed)>, StoreError> {
        let rows = sqlx::query(
            "SELECT field, key_id, nonce, ciphertext FROM secrets WHERE owner = $1 ORDER BY field",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("field")?, sealed_from(r)?)))
            .collect()
    }

    /// How many values each key seals.
    pub async fn secret_key_usage(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, COUNT(*) AS n FROM secrets GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?)))
            .collect()
    }

    /// Up to `limit` values sealed with a key other than `key_id` (for rotation).
    pub async fn secrets_not_under(
        &self,
        key_id: &str,
        limit: i64,
    ) -> Result<Vec<SealedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT owner, field, key_id, nonce, ciphertext FROM secrets \
             WHERE key_id <> $1 ORDER BY owner, field LIMIT $2",
        )
        .bind(key_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SealedRow {
                    owner: r.try_get("owner")?,
                    field: r.try_get("field")?,
                    sealed: sealed_from(r)?,
                })
            })
            .collect()
    }

    /// Replaces a value only if it is still `old` (someone may have written it meanwhile, in
    /// which case their newer value, already under a current key, wins). Whether it replaced.
    pub async fn replace_secret(
        &self,
        owner: &str,
        field: &str,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE secrets SET key_id = $1, nonce = $2, ciphertext = $3, updated_at = $4 \
             WHERE owner = $5 AND field = $6 AND key_id = $7 AND nonce = $8",
        )
        .bind(new.key_id.as_str())
        .bind(new.nonce.clone())
        .bind(new.ciphertext.clone())
        .bind(now_ms())
        .bind(owner)
        .bind(field)
        .bind(old.key_id.as_str())
        .bind(old.nonce.clone())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
