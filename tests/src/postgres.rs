//! The tests' PostgreSQL server (started once per machine by `tests/postgres/start.sh`), a
//! fresh database per test, and `pg_dump` to look inside one.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use sqlx::Connection;

static ADMIN_URL: OnceLock<String> = OnceLock::new();

/// The server's admin URL, starting it if needed.
pub fn admin_url() -> &'static str {
    ADMIN_URL.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("postgres/start.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .expect("cannot run tests/postgres/start.sh");
        assert!(
            output.status.success(),
            "the test PostgreSQL did not start (install it with scripts/install-test-deps):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    })
}

/// A new, empty database; its URL.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let name = format!("heph_t_{}", hex::encode(heph::vault::random_bytes::<6>()));
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to the test PostgreSQL");
    let sql = format!("CREATE DATABASE {name}");
    sqlx::query(&sql)
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.ok();
    admin.replace("/postgres", &format!("/{name}"))
}

/// A plain-text dump of a database.
pub fn dump(url: &str) -> String {
    let output = Command::new("pg_dump")
        .arg("--no-owner")
        .arg(url)
        .output()
        .expect("run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
