//! The connector's stdout and stderr: one pipe that keeps the first bytes up to the call's
//! limit and counts the rest. A write past the limit succeeds (the bytes are dropped), so a
//! chatty connector is truncated and marked, never killed: wasmtime's own memory pipe fails
//! the write, and Rust's `println!` turns that failure into a panic.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// A bounded capture of a call's output. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct CapturedOutput {
    cap: usize,
    inner: Arc<Mutex<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    bytes: Vec<u8>,
    dropped: usize,
}

impl CapturedOutput {
    /// A capture keeping at most `cap` bytes.
    pub fn new(cap: usize) -> CapturedOutput {
        CapturedOutput {
            cap,
            inner: Arc::default(),
        }
    }

    fn keep(&self, data: &[u8]) {
        let mut kept = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.cap.saturating_sub(kept.bytes.len());
        let n = room.min(data.len());
        kept.bytes.extend_from_slice(&data[..n]);
        kept.dropped += data.len() - n;
    }

    /// What was kept (as text) and how many bytes were dropped.
    pub fn contents(&self) -> (String, usize) {
        let kept = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (
            String::from_utf8_lossy(&kept.bytes).into_owned(),
            kept.dropped,
        )
    }

    /// The limit.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: what does not fit is dropped, not refused.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let out = CapturedOutput::new(10);
        let mut stream = out.p2_stream();
        stream.write(Bytes::from_static(b"0123456")).unwrap();
        stream.write(Bytes::from_static(b"789abcdef")).unwrap();
        assert!(stream.check_write().unwrap() > 0, "never full");
        assert_eq!(out.contents(), ("0123456789".to_string(), 6));
    }
}
