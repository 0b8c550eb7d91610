//! `heph serve` as a user runs it: the real binary in its own process, with its own data
//! directory (and optionally a PostgreSQL database), its log captured to a file, and an API
//! client that keeps every answer so that tests can search them for secrets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::heph_binary;
use crate::oauth_server::free_port;

/// Options for a server.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    /// `postgres://…`; `None`: SQLite in the data directory.
    pub database_url: Option<String>,
    /// Extra connector directories.
    pub connector_dirs: Vec<PathBuf>,
    /// Seconds before expiry to refresh OAuth tokens.
    pub refresh_margin: Option<u64>,
    /// The port to listen on (default: a free one).
    pub port: Option<u16>,
    /// `HEPH_MASTER_KEY` (default: the key file in the data directory).
    pub master_key: Option<String>,
    /// Do not create the `admin` user (a second server on a database that has one).
    pub skip_admin: bool,
    /// `--timeout`: the wall-clock limit of one connector call, in seconds.
    pub call_timeout: Option<u64>,
    /// More environment for every `heph` command (`HEPH_RESOLVE`, `HEPH_EXTRA_CA_CERT`).
    pub env: Vec<(String, String)>,
}

/// A running `heph serve`.
pub struct HephServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its data directory (SQLite file, key file).
    pub data_dir: PathBuf,
    /// The admin's API token.
    pub admin_token: String,
    options: ServerOptions,
    log: PathBuf,
    child: Child,
    answers: Arc<Mutex<Vec<String>>>,
}

impl HephServer {
    /// Picks a port, creates the first admin with the CLI, starts the server and waits for it.
    pub fn start(options: ServerOptions) -> HephServer {
        let port = options.port.unwrap_or_else(free_port);
        let data_dir = std::env::temp_dir().join(format!(
            "heph-server-{}",
            hex::encode(heph::vault::random_bytes::<6>())
        ));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let url = format!("http://127.0.0.1:{port}");
        let mut server = HephServer {
            url,
            data_dir: data_dir.clone(),
            admin_token: String::new(),
            options,
            log: data_dir.join("serve.log"),
            child: Command::new("true").spawn().expect("placeholder"),
            answers: Arc::new(Mutex::new(Vec::new())),
        };
        if !server.options.skip_admin {
            let created = server
                .cli(&["user", "create", "admin", "--admin"])
                .output()
                .expect("heph user create");
            assert!(
                created.status.success(),
                "user create: {}",
                String::from_utf8_lossy(&created.stderr)
            );
            server.admin_token = String::from_utf8_lossy(&created.stdout).trim().to_string();
        }
        server.spawn_serve(port);
        server
    }

    /// Starts `heph serve` on `port` (its log appended to `serve.log`) and waits for it.
    fn spawn_serve(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        // Tests read the debug log; a benchmark may ask for what an operator runs with.
        let log_filter = self
            .options
            .env
            .iter()
            .find(|(k, _)| k == "HEPH_LOG")
            .map_or("debug,sqlx=warn,hyper=info,h2=info".to_string(), |(_, v)| v.clone());
        self.child = self
            .cli(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("HEPH_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("heph serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("heph serve exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "heph serve did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and starts it again on the same port and data, with these variables
    /// of its environment set anew (`HEPH_WORKERS`, …).
    pub fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.stop();
        for (name, value) in env {
            self.options.env.retain(|(k, _)| k != name);
            self.options.env.push((name.to_string(), value.to_string()));
        }
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server's port");
        self.spawn_serve(port);
    }

    /// The `heph` command with this server's data directory and database.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut command = Command::new(heph_binary());
        command
            .env("HEPH_DATA_DIR", &self.data_dir)
            .env("HEPH_PUBLIC_URL", &self.url)
            .env_remove("HEPH_MASTER_KEY")
            .env_remove("HEPH_CONNECTOR_DIR")
            .env_remove("HEPH_DATABASE_URL")
            .env_remove("HEPH_RESOLVE")
            .env_remove("HEPH_EXTRA_CA_CERT")
            // The tests drive the API far faster than a person: no rate limit unless a test
            // sets one (the accounts tests do).
            .env("HEPH_API_RATE_LIMIT", "100000000");
        for (name, value) in &self.options.env {
            command.env(name, value);
        }
        if let Some(db) = &self.options.database_url {
            command.env("HEPH_DATABASE_URL", db);
        }
        if let Some(key) = &self.options.master_key {
            command.env("HEPH_MASTER_KEY", key);
        }
        if !self.options.connector_dirs.is_empty() {
            let dirs: Vec<String> = self
                .options
                .connector_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            command.env("HEPH_CONNECTOR_DIR", dirs.join(","));
        }
        if let Some(margin) = self.options.refresh_margin {
            command.env("HEPH_OAUTH_REFRESH_MARGIN", margin.to_string());
        }
        if let Some(timeout) = self.options.call_timeout {
            command.args(["--timeout", &timeout.to_string()]);
        }
        command.args(args);
        command
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An API client with a token.
    pub fn api(&self, token: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: self.url.clone(),
            token: token.to_string(),
            answers: self.answers.clone(),
        }
    }

    /// Every API answer body so far.
    pub fn answers(&self) -> Vec<String> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The SQLite files (database, WAL) of the data directory.
    pub fn sqlite_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for name in ["heph.db", "heph.db-wal", "heph.db-shm"] {
            if let Ok(b) = std::fs::read(self.data_dir.join(name)) {
                bytes.extend(b);
            }
        }
        bytes
    }

    /// Stops the server (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// How it was started.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for HephServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A client of the server's API that records every answer.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
    answers: Arc<Mutex<Vec<String>>>,
}

impl Api {
    /// Sends a request; returns the status and the JSON answer (or the text as a string).
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A `POST` that answers its status, 0 when it got no answer (for load, where refusals
    /// are expected).
    pub async fn try_post(&self, path: &str, body: Value) -> u16 {
        let request = self.client.post(format!("{}{path}", self.base)).json(&body);
        self.try_send(request).await
    }

    /// A `POST` of JSON text as it is; its status, 0 when it got no answer.
    pub async fn try_post_text(&self, path: &str, body: String) -> u16 {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        self.try_send(request).await
    }

    /// A `GET` that answers its status, 0 when it got no answer.
    pub async fn try_get(&self, path: &str) -> u16 {
        let request = self.client.get(format!("{}{path}", self.base));
        self.try_send(request).await
    }

    async fn try_send(&self, request: reqwest::RequestBuilder) -> u16 {
        match request.bearer_auth(&self.token).send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let _ = answer.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }

    /// The same client with another token.
    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// Sends a raw body as `application/json` (malformed on purpose).
    pub async fn send_raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.send_typed(method, path, "application/json", body)
            .await
    }

    /// Sends a raw body with a content type (`application/yaml` for a scenario file).
    pub async fn send_typed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("API request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PATCH", path, Some(body)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PUT", path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await
    }

    /// A plain GET without the token (a browser following a redirect), recorded too.
    pub async fn browser_get(&self, url: &str) -> (u16, String) {
        let response = reqwest::get(url).await.expect("GET");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.clone());
        (status, text)
    }
}

/// Opens a server's store and vault from the test process (as another process would), to
/// look at what is stored.
pub async fn open_store(server: &HephServer) -> (heph::store::Store, heph::vault::Vault) {
    let store = match &server.options.database_url {
        Some(url) => heph::store::Store::open(url).await,
        None => heph::store::Store::open_in(&server.data_dir).await,
    }
    .expect("open the server's store");
    let source = match &server.options.master_key {
        Some(key) => heph::vault::KeySource::Env(key.clone()),
        None => heph::vault::KeySource::File(server.data_dir.join("master.key")),
    };
    let vault = heph::vault::Vault::open(source, &store)
        .await
        .expect("open the server's vault");
    (store, vault)
}

/// A connection's secret, decrypted (the test peeks; the API never shows it).
pub async fn peek_secret(server: &HephServer, connection: &str, field: &str) -> Option<String> {
    let (store, vault) = open_store(server).await;
    let owner = heph::connections::owner(connection);
    let secrets = store.secrets_of(&owner).await.expect("secrets");
    let value = secrets
        .iter()
        .find(|(f, _)| f == field)
        .map(|(f, sealed)| vault.open_string(&owner, f, sealed).expect("decrypt"));
    store.close().await;
    value
}

/// Runs SQL on a server's database (to simulate expiry or tampering).
pub async fn execute_sql(server: &HephServer, sql: &str) {
    let (store, _) = open_store(server).await;
    store.execute_raw(sql).await.expect("SQL");
    store.close().await;
}
