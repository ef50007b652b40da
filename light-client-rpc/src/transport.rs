//! The verified provider as an alloy transport, so alloy's typed API reads only verified data.
//!
//! ```ignore
//! let client = alloy_rpc_client::RpcClient::new(VerifiedTransport::new(provider), true);
//! let alloy = alloy_provider::RootProvider::<alloy_network::Ethereum>::new(client);
//! let balance = alloy.get_balance(owner).await?; // proven against the anchor's state root
//! ```
//!
//! Every request goes to [`Provider::request`]: answers are the verified ones, a method it cannot
//! verify is a JSON-RPC error (-32601), and a tampered answer is a JSON-RPC error (-32000), which
//! alloy reports as an error response. Native only (alloy's transport futures are `Send`).

use std::sync::Arc;
use std::task::{Context, Poll};

use alloy_json_rpc::{
    ErrorPayload, RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest,
};
use alloy_transport::{TransportError, TransportFut};
use serde_json::Value;
use serde_json::value::to_raw_value;

use crate::Provider;

/// [`Provider`] as an alloy transport (`tower::Service<RequestPacket>`): batches are answered
/// in order.
#[derive(Debug, Clone)]
pub struct VerifiedTransport {
    provider: Arc<Provider>,
}

impl VerifiedTransport {
    /// A transport answering from `provider`.
    pub fn new(provider: Provider) -> Self {
        Self::shared(Arc::new(provider))
    }

    /// A transport answering from a provider shared with others.
    pub fn shared(provider: Arc<Provider>) -> Self {
        Self { provider }
    }
}

impl tower::Service<RequestPacket> for VerifiedTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, packet: RequestPacket) -> Self::Future {
        let provider = self.provider.clone();
        Box::pin(async move {
            Ok(match packet {
                RequestPacket::Single(request) => {
                    ResponsePacket::Single(answer(&provider, &request).await?)
                }
                RequestPacket::Batch(requests) => {
                    let mut answers = Vec::with_capacity(requests.len());
                    for request in &requests {
                        answers.push(answer(&provider, request).await?);
                    }
                    ResponsePacket::Batch(answers)
                }
            })
        })
    }
}

async fn answer(
    provider: &Provider,
    request: &SerializedRequest,
) -> Result<Response, TransportError> {
    let whole: Value =
        serde_json::from_str(request.serialized().get()).map_err(TransportError::ser_err)?;
    let params = whole
        .get("params")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let payload = match provider.request(request.method(), &params).await {
        Ok(result) => {
            ResponsePayload::Success(to_raw_value(&result).map_err(TransportError::ser_err)?)
        }
        Err(error) => ResponsePayload::Failure(ErrorPayload {
            code: error.code,
            message: error.message.into(),
            data: error
                .data
                .map(|data| to_raw_value(&data))
                .transpose()
                .map_err(TransportError::ser_err)?,
        }),
    };
    Ok(Response {
        id: request.id().clone(),
        payload,
    })
}
