//! A real OAuth 2.0 authorization server for the tests: oidc-provider (from npm) run by Node
//! from `tests/oauth/server.mjs` on loopback, one per test. Also a small "browser" that goes
//! through its login and consent pages the way a person would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// A running authorization server.
pub struct Provider {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    child: Child,
    log: PathBuf,
}

static NPM: Mutex<()> = Mutex::new(());

fn oauth_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth")
}

/// Installs oidc-provider from the lock file if `scripts/install-test-deps` has not.
fn ensure_installed() {
    let _one_at_a_time = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = oauth_dir();
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm is missing: run scripts/install-test-deps");
    assert!(status.success(), "npm ci in tests/oauth failed");
}

/// A free loopback port (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Provider {
    /// Starts a provider whose clients redirect to `redirect_uri`; access tokens live
    /// `access_ttl` seconds.
    pub fn start(redirect_uri: &str, access_ttl: u64) -> Provider {
        ensure_installed();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("heph-oauth-provider-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("provider log");
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg(port.to_string())
            .arg(redirect_uri)
            .arg(access_ttl.to_string())
            .current_dir(oauth_dir())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("node is missing: run scripts/install-test-deps");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("provider output");
        assert!(
            line.starts_with("ready"),
            "the OAuth provider did not start: {line}"
        );
        // Keep reading what it prints: a closed pipe would kill it at its next line (EPIPE).
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Provider {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    /// What the provider printed on stderr (its warnings, and a crash if it crashed).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many token requests of each grant type succeeded or failed.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__stats", self.issuer))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// How many refreshes succeeded so far.
    pub async fn refreshes(&self) -> u64 {
        self.stats().await["refresh_token.success"]
            .as_u64()
            .unwrap_or(0)
    }

    /// A form POST to one of the provider's endpoints with HTTP Basic client authentication.
    pub async fn post_form(
        &self,
        path: &str,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.issuer))
            .basic_auth(client.0, Some(client.1))
            .form(form)
            .send()
            .await
            .expect("provider request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Makes the next `count` token requests fail with `status`.
    pub async fn fail_token_requests(&self, status: u16, count: u32) {
        reqwest::Client::new()
            .post(format!(
                "{}/__fail_token?status={status}&count={count}",
                self.issuer
            ))
            .send()
            .await
            .expect("fail_token");
    }

    /// Delays every later token request by `ms` milliseconds.
    pub async fn slow_token_requests(&self, ms: u64) {
        reqwest::Client::new()
            .post(format!("{}/__slow_token?ms={ms}", self.issuer))
            .send()
            .await
            .expect("slow_token");
    }

    /// RFC 7662 introspection of a token.
    pub async fn introspect(&self, client: (&str, &str), token: &str) -> Value {
        self.post_form("/token/introspection", client, &[("token", token)])
            .await
            .1
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Goes through the provider's login and consent pages as `login` and returns the URL the
/// provider finally redirects to (the client's callback, with `code` and `state`), without
/// visiting it.
pub async fn authorize_in_browser(authorize_url: &str, login: &str) -> String {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("browser");
    let provider = url::Url::parse(authorize_url).expect("authorize URL");
    let origin = provider.origin().ascii_serialization();
    let mut next = authorize_url.to_string();
    for _ in 0..20 {
        let response = browser.get(&next).send().await.expect("browser GET");
        if let Some(location) = response.headers().get("location") {
            let location = location.to_str().expect("location").to_string();
            let absolute = provider.join(&location).expect("location URL").to_string();
            if !absolute.starts_with(&origin) {
                return absolute; // back to the client: the callback
            }
            next = absolute;
            continue;
        }
        let page = response.text().await.unwrap_or_default();
        let action = between(&page, "action=\"", "\"")
            .unwrap_or_else(|| panic!("no form on the provider's page: {page}"));
        let action = provider
            .join(&action.replace("&amp;", "&"))
            .expect("form action")
            .to_string();
        let prompt =
            between(&page, "name=\"prompt\" value=\"", "\"").unwrap_or_else(|| "consent".into());
        let form: Vec<(&str, &str)> = if prompt == "login" {
            vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "any password"),
            ]
        } else {
            vec![("prompt", "consent")]
        };
        let response = browser
            .post(&action)
            .form(&form)
            .send()
            .await
            .expect("browser POST");
        let location = response
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("the provider did not redirect after {prompt}"))
            .to_str()
            .expect("location")
            .to_string();
        next = provider.join(&location).expect("location URL").to_string();
        if !next.starts_with(&origin) {
            return next;
        }
    }
    panic!("the provider never redirected back to the client");
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_string())
}
