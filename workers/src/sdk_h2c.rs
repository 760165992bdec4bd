//! An HTTP client for aws-sdk-lambda that speaks HTTP/2 without TLS ("h2c", prior knowledge) to
//! the local endpoint. AWS Lambda is reached over HTTP/2 (TLS with ALPN), where many
//! calls share a connection; over plain `http://` the SDK's default client would use
//! HTTP/1.1 and one connection per call in flight, about 30 KB each, so 10,000 calls in
//! flight would cost 300 MB in connections alone.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// hyper keeps one HTTP/2 connection per host and multiplexes every call over it.
#[derive(Debug, Clone)]
struct H2c {
    client: Client<TcpConnector, SdkBody>,
}

/// A client for `http://` endpoints over HTTP/2 with prior knowledge.
pub fn client() -> SharedHttpClient {
    let mut tcp = TcpConnector::new();
    tcp.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).http2_only(true).build(tcp);
    SharedHttpClient::new(H2c { client })
}

impl HttpConnector for H2c {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let response = client.request(request).await.map_err(|e| ConnectorError::io(e.into()))?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for H2c {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
