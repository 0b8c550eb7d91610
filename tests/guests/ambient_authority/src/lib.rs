//! Looks for ambient authority: files, directories, environment variables, arguments, sockets.
use heph_sdk::{export_connector, json, Connector, Context, Error, Value};

struct Guest;

impl Connector for Guest {
    fn describe() -> Value {
        json!({"actions": [{"name": "attack", "input": {"type": "object"}, "output": {"type": "object"}}], "triggers": []})
    }

    fn run_action(_ctx: &Context, _action: &str, _input: Value) -> Result<Value, Error> {
        let file = std::fs::read_to_string("/etc/passwd")
            .map(|s| s.len())
            .map_err(|e| e.to_string());
        let dir = std::fs::read_dir("/")
            .map(|d| d.count())
            .map_err(|e| e.to_string());
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .map_err(|e| e.to_string());
        let tcp = std::net::TcpStream::connect("127.0.0.1:22")
            .map(|_| ())
            .map_err(|e| e.to_string());
        let lookup = std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
            .map(|a| a.count())
            .map_err(|e| e.to_string());
        println!("ambient check printed this");
        let mut seed = [0u8; 8];
        getrandom_fill(&mut seed);
        let random = seed.iter().any(|x| *x != 0);
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() > 0)
            .unwrap_or(false);
        Ok(json!({
            "file": file.is_ok(), "dir": dir.is_ok(), "cwd": cwd.is_ok(),
            "env": std::env::vars().count(), "args": std::env::args().count(),
            "tcp": tcp.is_ok(), "lookup": lookup.is_ok(),
            "random": random, "clock": clock,
        }))
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    // std's HashMap seeds come from wasi:random; a RandomState hash differs run to run.
    use std::hash::{BuildHasher, RandomState};
    let v = RandomState::new().hash_one(42u64).to_le_bytes();
    buf.copy_from_slice(&v);
}

export_connector!(Guest);
