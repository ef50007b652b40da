//! Ethereum JSON-RPC 2.0 envelopes and `QUANTITY` decoding.
//!
//! Only the codec lives here; callers bring their own transport (reqwest natively, fetch in the
//! browser), so the same decoding rules apply everywhere.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON-RPC 2.0 request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Caller-chosen id echoed in the response.
    pub id: u64,
    /// Method name, for example `eth_chainId`.
    pub method: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

impl Request {
    /// A request for `method` with positional `params`.
    pub fn new(id: u64, method: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id,
            method: method.into(),
            params,
        }
    }
}

/// A JSON-RPC 2.0 response: exactly one of `result` and `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Echo of the request id (may be null on parse errors).
    #[serde(default)]
    pub id: Value,
    /// The result on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// The `error` member of a failed JSON-RPC response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// JSON-RPC error code.
    pub code: i64,
    /// Error message from the server.
    pub message: String,
}

/// Why a JSON-RPC answer could not be turned into a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The server answered with a JSON-RPC error.
    #[error("the node answered {method} with error {code}: {message}")]
    Rpc {
        /// Method that failed.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Message from the node.
        message: String,
    },
    /// The body was not a JSON-RPC response.
    #[error("the answer to {method} is not a JSON-RPC response: {detail}")]
    Malformed {
        /// Method that was called.
        method: String,
        /// What was wrong.
        detail: String,
    },
    /// The id did not match the request.
    #[error("the answer to {method} carries id {got}, expected {expected}")]
    IdMismatch {
        /// Method that was called.
        method: String,
        /// Id that was sent.
        expected: u64,
        /// Id that came back.
        got: String,
    },
    /// A `QUANTITY` was not `0x`-prefixed minimal hex that fits in 64 bits.
    #[error("invalid QUANTITY {value:?}: {reason}")]
    Quantity {
        /// The offending text.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// Decodes a raw response body for `request` into its `result` value.
pub fn decode_result(request: &Request, body: &[u8]) -> Result<Value, DecodeError> {
    let response: Response =
        serde_json::from_slice(body).map_err(|err| DecodeError::Malformed {
            method: request.method.clone(),
            detail: err.to_string(),
        })?;
    if let Some(error) = response.error {
        return Err(DecodeError::Rpc {
            method: request.method.clone(),
            code: error.code,
            message: error.message,
        });
    }
    if response.id.as_u64() != Some(request.id) {
        return Err(DecodeError::IdMismatch {
            method: request.method.clone(),
            expected: request.id,
            got: response.id.to_string(),
        });
    }
    response.result.ok_or_else(|| DecodeError::Malformed {
        method: request.method.clone(),
        detail: "neither result nor error is present".into(),
    })
}

/// Parses an Ethereum JSON-RPC `QUANTITY` (`0x`-prefixed, no leading zeros) into a `u64`.
pub fn parse_quantity(value: &Value) -> Result<u64, DecodeError> {
    let text = value.as_str().ok_or_else(|| DecodeError::Quantity {
        value: value.to_string(),
        reason: "not a string",
    })?;
    let invalid = |reason| DecodeError::Quantity {
        value: text.to_owned(),
        reason,
    };
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid("missing 0x prefix"))?;
    if digits.is_empty() {
        return Err(invalid("no digits"));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(invalid("leading zero"));
    }
    if digits.len() > 16 {
        return Err(invalid("does not fit in 64 bits"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| invalid("not hexadecimal"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_follow_the_spec() {
        assert_eq!(parse_quantity(&json!("0x0")), Ok(0));
        assert_eq!(parse_quantity(&json!("0x7a69")), Ok(31337));
        assert_eq!(parse_quantity(&json!("0xffffffffffffffff")), Ok(u64::MAX));
        for bad in ["0x", "7a69", "0x07", "0xzz", "0x10000000000000000"] {
            assert!(
                parse_quantity(&json!(bad)).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(parse_quantity(&json!(12)).is_err());
    }

    #[test]
    fn results_errors_and_ids_are_checked() {
        let request = Request::new(7, "eth_chainId", vec![]);
        let ok = br#"{"jsonrpc":"2.0","id":7,"result":"0x1"}"#;
        assert_eq!(decode_result(&request, ok), Ok(json!("0x1")));

        let err = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"nope"}}"#;
        assert!(matches!(
            decode_result(&request, err),
            Err(DecodeError::Rpc { code: -32601, .. })
        ));

        let wrong_id = br#"{"jsonrpc":"2.0","id":8,"result":"0x1"}"#;
        assert!(matches!(
            decode_result(&request, wrong_id),
            Err(DecodeError::IdMismatch { .. })
        ));

        let garbage = b"<html>502</html>";
        assert!(matches!(
            decode_result(&request, garbage),
            Err(DecodeError::Malformed { .. })
        ));
    }
}
