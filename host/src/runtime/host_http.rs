//! Requests the host makes on a connection's behalf (OAuth token refresh and revocation).
//! Their URLs come from a connector's manifest, which is third-party input, so they go through
//! the same pooled client and address checks as a connector's own requests: no private,
//! loopback or metadata address unless the admin allowed private networks for the install.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::client::{check_literal, refusal_in};
use super::Runtime;

/// Why a host request failed.
#[derive(Debug, thiserror::Error)]
pub enum HostHttpError {
    /// The policy refused the destination.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed.
    #[error("{0}")]
    Network(String),
    /// The answer was larger than allowed.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// The largest answer a host request reads (token endpoints answer a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

impl Runtime {
    /// Sends one request made by the host itself, with the install's network permission.
    pub async fn host_request(
        &self,
        request: http::Request<Vec<u8>>,
        allow_private: bool,
    ) -> Result<http::Response<Vec<u8>>, HostHttpError> {
        let host = request.uri().host().unwrap_or("").to_string();
        check_literal(&host, allow_private).map_err(|r| HostHttpError::Refused(r.to_string()))?;
        self.shared
            .client
            .check_mapped(&host, request.uri().port_u16())
            .map_err(|r| HostHttpError::Refused(r.to_string()))?;
        let scheme = request.uri().scheme_str().unwrap_or("");
        if scheme != "https" && !allow_private {
            return Err(HostHttpError::Refused(format!(
                "{}: only https is allowed for an install without private-network access",
                request.uri()
            )));
        }
        let (parts, body) = request.into_parts();
        let body = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::from_parts(parts, body);
        let timeout = self
            .shared
            .limits
            .first_byte_timeout
            .min(Duration::from_secs(30));
        let answer = tokio::time::timeout(
            timeout,
            self.shared.client.pool(allow_private).request(request),
        )
        .await
        .map_err(|_| HostHttpError::Timeout(timeout))?;
        let response = answer.map_err(|e| match refusal_in(&e) {
            Some(refusal) => HostHttpError::Refused(refusal.to_string()),
            None => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                HostHttpError::Network(text)
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(timeout, Limited::new(body, MAX_ANSWER).collect())
            .await
            .map_err(|_| HostHttpError::Timeout(timeout))?
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    HostHttpError::TooLarge(MAX_ANSWER)
                } else {
                    HostHttpError::Network(e.to_string())
                }
            })?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body.to_vec()))
    }
}
