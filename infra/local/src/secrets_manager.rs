//! AWS Secrets Manager's `GetSecretValue`, what the functions call at cold start for the JWT
//! key (`JWT_SECRET_ID`, through `SECRETS_MANAGER_ENDPOINT`). It shares the WebSocket port with
//! the other AWS API the functions call (`@connections`). The template's secret is the local
//! JWT key, as `{"secret": "<key>"}` like the generated one on AWS. Signatures are not checked
//! (no IAM locally); errors are AWS's JSON errors, which the SDK turns into its exceptions.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// The header the SDK's JSON protocol names the operation in.
pub const TARGET: &str = "secretsmanager.GetSecretValue";

/// The secrets served: their ARN (what `!Ref` of the secret resolves to locally) and value.
#[derive(Clone, Default)]
pub struct Secrets {
    pub secrets: Vec<(String, String)>,
}

impl Secrets {
    /// A secret is found by its ARN or by its name (the ARN's last part).
    fn find(&self, id: &str) -> Option<&(String, String)> {
        self.secrets
            .iter()
            .find(|(arn, _)| arn == id || arn.rsplit_once(":secret:").is_some_and(|(_, name)| name == id))
    }
}

pub fn is_call(req: &Request<Incoming>) -> bool {
    req.headers().get("x-amz-target").is_some_and(|t| t.as_bytes().starts_with(b"secretsmanager."))
}

pub async fn handle(secrets: &Secrets, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let target = req.headers().get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or_default().to_string();
    let body = Limited::new(req.into_body(), 64 * 1024).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let response = if target != TARGET {
        error("UnknownOperationException", &format!("{target} is not served locally (only GetSecretValue)"))
    } else {
        let id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["SecretId"].as_str().map(str::to_string));
        match id.as_deref().map(|id| (id, secrets.find(id))) {
            Some((_, Some((arn, value)))) => {
                let name = arn.rsplit_once(":secret:").map_or(arn.as_str(), |(_, n)| n);
                let body = json!({
                    "ARN": arn,
                    "Name": name,
                    "SecretString": value,
                    "VersionId": "00000000-0000-4000-8000-000000000001",
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1_700_000_000,
                });
                reply(StatusCode::OK, body)
            }
            Some((id, None)) => {
                error("ResourceNotFoundException", &format!("Secrets Manager can't find the specified secret: {id}"))
            }
            None => error("InvalidParameterException", "SecretId is required"),
        }
    };
    // The secret's value is never printed.
    println!("SECRETSMANAGER {target} {}", response.status().as_u16());
    response
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

fn error(kind: &str, message: &str) -> Response<Full<Bytes>> {
    reply(StatusCode::BAD_REQUEST, json!({"__type": kind, "message": message}))
}
