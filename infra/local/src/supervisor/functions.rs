//! What each function is given: its binary, and Lambda's environment over the template's
//! (intrinsics resolved locally, see `template/values.rs`).

use crate::aws::{ACCOUNT_ID, REGION, STACK_NAME};
use crate::error::{Error, Result};
use crate::lambda::FunctionSpec;
use crate::settings::Settings;
use crate::template::{Function, LocalApi, LocalValues, Template};
use crate::{http_api, secrets_manager, websocket_api};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every function in the template, with the environment the stack gives it, for tools that run
/// functions without the gateways (`coldstart-bench`). `http_port`/`ws_port` are where the APIs
/// would be served (what `WEBSOCKET_ENDPOINT` points at).
pub fn function_specs(settings: &Settings, dynamodb: &str, http_port: u16, ws_port: u16) -> Result<Vec<FunctionSpec>> {
    let template = Template::load(&settings.template)?;
    let locals = local_values(settings, &template, http_port, ws_port);
    let ids = template.functions().into_iter().map(|f| f.logical_id).collect();
    let mut unresolved = BTreeMap::new();
    let specs = functions_with_binaries(settings, &template, ids)?
        .into_iter()
        .map(|(function, path)| function_spec(&template, &function, path, &locals, dynamodb, settings, &mut unresolved))
        .collect();
    match unresolved.into_keys().next() {
        Some((key, why)) => Err(Error::Startup(format!("{key} cannot be set locally: {why}"))),
        None => Ok(specs),
    }
}

/// Every `AWS::SecretsManager::Secret` of the template holds the local JWT key, shaped like the
/// generated one (`{"secret": "<key>"}`).
pub(super) fn local_secrets(template: &Template, locals: &LocalValues) -> secrets_manager::Secrets {
    let value = serde_json::json!({ "secret": locals.secret }).to_string();
    let secrets = template
        .resources_of_type("AWS::SecretsManager::Secret")
        .map(|(id, _)| (locals.secret_arn(id), value.clone()))
        .collect();
    secrets_manager::Secrets { secrets }
}

/// What the template's intrinsics resolve to locally.
pub(super) fn local_values(settings: &Settings, template: &Template, http_port: u16, ws_port: u16) -> LocalValues {
    LocalValues {
        stack_name: STACK_NAME.into(),
        region: REGION.into(),
        account_id: ACCOUNT_ID.into(),
        table_name: settings.table_name.clone(),
        secret: settings.jwt_secret.clone(),
        aws_endpoint: format!("http://127.0.0.1:{ws_port}"),
        apis: local_apis(template, http_port, ws_port),
    }
}

/// The template's APIs and where they are served (what `!Ref` of them resolves to).
fn local_apis(template: &Template, http_port: u16, ws_port: u16) -> Vec<LocalApi> {
    let http = template.resources_of_type("AWS::Serverless::HttpApi").map(|(id, _)| (id, http_api::API_ID, http_port));
    let ws = template.resources_of_type("AWS::ApiGatewayV2::Api").map(|(id, _)| (id, websocket_api::API_ID, ws_port));
    http.chain(ws)
        .map(|(id, api_id, port)| LocalApi {
            logical_id: id.to_string(),
            api_id: api_id.to_string(),
            url: format!("http://127.0.0.1:{port}"),
        })
        .collect()
}

/// The functions the routes and event sources lead to, with their binaries (all of which must exist).
pub(super) fn functions_with_binaries(
    settings: &Settings,
    template: &Template,
    mut ids: Vec<String>,
) -> Result<Vec<(Function, std::path::PathBuf)>> {
    ids.sort();
    ids.dedup();
    let all = template.functions();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let function = all.iter().find(|f| f.logical_id == id).ok_or_else(|| {
            Error::Template(format!(
                "{id} is routed to or triggered but has no Metadata.BuildProperties.Binary in the template"
            ))
        })?;
        let path = settings.bin_dir.join(&function.binary);
        if path.is_file() {
            found.push((function.clone(), path));
        } else {
            missing.push(function.binary.clone());
        }
    }
    if !missing.is_empty() {
        return Err(Error::Startup(format!(
            "function binaries missing from {}: {}\n  Fix: build them with `cargo build --workspace --bins` (./infra/dev does), or set BIN_DIR to where they are",
            settings.bin_dir.display(),
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// Lambda's environment for the function, then the template's (intrinsics resolved locally).
pub(super) fn function_spec(
    template: &Template,
    function: &Function,
    path: std::path::PathBuf,
    locals: &LocalValues,
    dynamodb: &str,
    settings: &Settings,
    unresolved: &mut BTreeMap<(String, String), Vec<String>>,
) -> FunctionSpec {
    let name = format!("{STACK_NAME}-{}", function.logical_id);
    let mut env = BTreeMap::new();
    for (key, value) in &function.environment {
        match template.resolve_optional(value, locals) {
            Ok(Some(value)) => {
                env.insert(key.clone(), value);
            }
            Ok(None) => {}
            Err(why) => unresolved.entry((key.clone(), why.to_string())).or_default().push(function.logical_id.clone()),
        }
    }
    env.extend(settings.function_env.clone());
    let mut set = |key: &str, value: String| {
        env.insert(key.to_string(), value);
    };
    for (key, value) in [("AWS_LAMBDA_LOG_FORMAT", &function.log_format), ("AWS_LAMBDA_LOG_LEVEL", &function.log_level)]
    {
        if let Some(value) = value.as_ref().and_then(|v| template.resolve(v, locals).ok()) {
            set(key, value);
        }
    }
    set("AWS_LAMBDA_FUNCTION_NAME", name.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function.memory_size.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
    set("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"));
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
    set("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into());
    set("AWS_REGION", REGION.into());
    set("AWS_DEFAULT_REGION", REGION.into());
    // Throwaway credentials: the local DynamoDB accepts anything, and none of a developer's leak in.
    set("AWS_ACCESS_KEY_ID", "local".into());
    set("AWS_SECRET_ACCESS_KEY", "local".into());
    set("AWS_SESSION_TOKEN", "local".into());
    set("DYNAMODB_ENDPOINT", dynamodb.into());
    // GetSecretValue is served on the WebSocket port, beside `@connections`.
    set("SECRETS_MANAGER_ENDPOINT", locals.aws_endpoint.clone());
    set("_HANDLER", "bootstrap".into());
    set("LAMBDA_TASK_ROOT", settings.bin_dir.display().to_string());
    set("TZ", ":UTC".into());
    set("LANG", "en_US.UTF-8".into());
    for inherited in ["PATH", "LD_LIBRARY_PATH"] {
        if let Ok(value) = std::env::var(inherited) {
            set(inherited, value);
        }
    }
    FunctionSpec {
        arn: format!("arn:aws:lambda:{REGION}:{}:function:{name}", ACCOUNT_ID),
        logical_id: function.logical_id.clone(),
        function_name: name,
        binary: function.binary.clone(),
        path,
        env,
        timeout: Duration::from_secs(function.timeout_seconds),
        output: None,
    }
}
