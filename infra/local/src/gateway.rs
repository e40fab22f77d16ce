//! `local-gateway`: starts DynamoDB (dynoxide, in this process) and the table, the HTTP API, the WebSocket API and
//! the stream event sources, prints one readiness line, and on SIGINT/SIGTERM/SIGHUP stops every
//! process it started.

use crate::dynamodb::LocalDynamoDb;
use crate::event_sources::StreamSource;
use crate::functions::{Children, FunctionSpec, Pool};
use crate::http_gateway::{self, Gateway};
use crate::routes::RouteTable;
use crate::settings::Settings;
use crate::template::{Function, LocalApi, LocalValues, Template};
use crate::websocket::{self, WsGateway};
use crate::ws_routes::WsApi;
use crate::{event, streams, table, ws_event};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

pub const STACK_NAME: &str = "chat-local";
pub const REGION: &str = "us-east-1";

struct Running {
    http_port: u16,
    ws_port: u16,
    dynamodb: String,
    servers: Vec<JoinHandle<()>>,
}

pub async fn run(settings: Settings) -> Result<(), String> {
    let shutdown = shutdown_signal().map_err(|e| format!("cannot listen for signals: {e}"))?;
    tokio::pin!(shutdown);
    let children = Children::default();
    let mut dynamodb = None;
    let running = tokio::select! {
        running = start(&settings, &children, &mut dynamodb) => running?,
        signal = &mut shutdown => {
            println!("{signal}: stopping");
            children.stop_all().await;
            return Ok(());
        }
    };
    println!(
        "chat API ready: http://127.0.0.1:{} (HTTP)  ws://127.0.0.1:{} (WebSocket)  DynamoDB {}",
        running.http_port, running.ws_port, running.dynamodb
    );
    let signal = shutdown.await;
    println!("{signal}: stopping");
    for server in &running.servers {
        server.abort();
    }
    children.stop_all().await;
    drop(dynamodb);
    println!("stopped");
    Ok(())
}

async fn start(settings: &Settings, children: &Children, local: &mut Option<LocalDynamoDb>) -> Result<Running, String> {
    let template = Template::load(&settings.template)?;
    let routes = RouteTable::from_template(&template)?;
    // Ports first: a taken port fails before anything else starts.
    let http = bind(settings.http_port, "the HTTP API", "HTTP_PORT").await?;
    let ws = bind(settings.ws_port, "the WebSocket API", "WS_PORT").await?;
    let http_port = http.local_addr().map_err(|e| e.to_string())?.port();
    let ws_port = ws.local_addr().map_err(|e| e.to_string())?.port();

    let locals = local_values(settings, &template, http_port, ws_port);
    let ws_api = WsApi::from_template(&template, &locals)?;
    let (sources, skipped) = StreamSource::from_template(&template, &locals)?;
    for event in skipped {
        println!("warning: {event} reads no stream of the template's table (or is disabled): not served locally");
    }
    let mut needed = routes.functions();
    needed.extend(ws_api.iter().flat_map(WsApi::functions));
    needed.extend(sources.iter().map(|s| s.function.clone()));
    let functions = functions_with_binaries(settings, &template, needed)?;

    let (dynamodb, described) = match &settings.dynamodb_endpoint {
        Some(endpoint) => (endpoint.clone(), endpoint.clone()),
        None => {
            let file = settings.data_dir.as_ref().map(|dir| dir.join("dynamodb.sqlite"));
            let sweep = Some(Duration::from_secs(60));
            let started = LocalDynamoDb::start_with_ttl_sweep(file.as_deref(), settings.dynamodb_port, sweep).map_err(|e| {
                let fix = if e.contains("in use") {
                    "set DYNAMODB_PORT to a free port (DYNAMODB_PORT=0: any free port)"
                } else {
                    "check LOCAL_DATA_DIR (./infra/dev --fresh starts empty), or set DYNAMODB_ENDPOINT to a running DynamoDB"
                };
                format!("{e}\n  Fix: {fix}")
            })?;
            let started = local.insert(started);
            (started.endpoint(), started.describe())
        }
    };
    let client = table::local_client(&dynamodb);
    let definition = template.table()?;
    let created =
        tokio::time::timeout(Duration::from_secs(30), table::ensure_table(&client, &settings.table_name, &definition))
            .await
            .map_err(|_| format!("DynamoDB at {dynamodb} did not answer within 30 s"))?
            .map_err(|e| {
                format!("{e} at {dynamodb}\n  Fix: check DYNAMODB_ENDPOINT, or unset it to use the local DynamoDB")
            })?;
    println!("table {} {} at {described}", settings.table_name, if created { "created" } else { "exists, reused" });

    let mut pools = HashMap::new();
    let mut unresolved: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (function, path) in functions {
        let spec = function_spec(&template, &function, path, &locals, &dynamodb, settings, &mut unresolved);
        pools.insert(function.logical_id.clone(), Arc::new(Pool::new(spec, settings.max_instances, children.clone())));
    }
    for ((key, why), ids) in unresolved {
        println!("warning: {key} left unset in {} function(s): {why}", ids.len());
    }
    let mut servers = Vec::new();
    let hash_key = definition.key_schema.iter().find(|k| k.key_type == "HASH").map(|k| k.attribute_name.clone());
    let streams = streams::client(&dynamodb);
    // Where on-failure destinations are recorded: beside the data, or for this run only.
    let failures_dir = settings
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("local-gateway-{}", std::process::id())));
    if !sources.is_empty() {
        std::fs::create_dir_all(&failures_dir).map_err(|e| format!("{}: {e}", failures_dir.display()))?;
    }
    for source in sources {
        let stream_arn = table::latest_stream_arn(&client, &settings.table_name).await?.ok_or_else(|| {
            format!(
                "{}.{} reads the stream of table {}, which has none\n  Fix: give the table a StreamSpecification (or let the local stack create it: another TABLE_NAME)",
                source.function, source.event, settings.table_name
            )
        })?;
        let pool = pools[&source.function].clone();
        let hash_key = hash_key.clone().unwrap_or_default();
        servers
            .push(streams::start(streams.clone(), source, stream_arn, hash_key, pool, created, &failures_dir).await?);
    }
    let gateway = Gateway { cors: template.http_api_cors(&locals)?, routes, pools: pools.clone() };
    servers.push(tokio::spawn(http_gateway::serve(http, Arc::new(gateway))));
    servers.push(match ws_api {
        Some(api) => {
            let gateway = WsGateway {
                api,
                pools,
                connections: Default::default(),
                idle_timeout: settings.ws_idle_timeout,
                max_lifetime: settings.ws_max_lifetime,
                post_latency: settings.ws_post_latency,
                secrets: local_secrets(&template, &locals),
                port: ws_port,
            };
            tokio::spawn(websocket::serve(ws, Arc::new(gateway)))
        }
        None => tokio::spawn(http_gateway::serve_websocket_placeholder(ws)),
    });
    Ok(Running { http_port, ws_port, dynamodb, servers })
}

/// Every function in the template, with the environment the stack gives it, for tools that run
/// functions without the gateways (`coldstart-bench`). `http_port`/`ws_port` are where the APIs
/// would be served (what `WEBSOCKET_ENDPOINT` points at).
pub fn function_specs(
    settings: &Settings,
    dynamodb: &str,
    http_port: u16,
    ws_port: u16,
) -> Result<Vec<FunctionSpec>, String> {
    let template = Template::load(&settings.template)?;
    let locals = local_values(settings, &template, http_port, ws_port);
    let ids = template.functions().into_iter().map(|f| f.logical_id).collect();
    let mut unresolved = BTreeMap::new();
    let specs = functions_with_binaries(settings, &template, ids)?
        .into_iter()
        .map(|(function, path)| function_spec(&template, &function, path, &locals, dynamodb, settings, &mut unresolved))
        .collect();
    match unresolved.into_keys().next() {
        Some((key, why)) => Err(format!("{key} cannot be set locally: {why}")),
        None => Ok(specs),
    }
}

/// Every `AWS::SecretsManager::Secret` of the template holds the local JWT key, shaped like the
/// generated one (`{"secret": "<key>"}`).
fn local_secrets(template: &Template, locals: &LocalValues) -> crate::secrets_manager::Secrets {
    let value = serde_json::json!({ "secret": locals.secret }).to_string();
    let secrets = template
        .resources_of_type("AWS::SecretsManager::Secret")
        .map(|(id, _)| {
            (format!("arn:aws:secretsmanager:{}:{}:secret:{id}", locals.region, locals.account_id), value.clone())
        })
        .collect();
    crate::secrets_manager::Secrets { secrets }
}

/// What the template's intrinsics resolve to locally.
fn local_values(settings: &Settings, template: &Template, http_port: u16, ws_port: u16) -> LocalValues {
    LocalValues {
        stack_name: STACK_NAME.into(),
        region: REGION.into(),
        account_id: event::ACCOUNT_ID.into(),
        table_name: settings.table_name.clone(),
        secret: settings.jwt_secret.clone(),
        aws_endpoint: format!("http://127.0.0.1:{ws_port}"),
        apis: local_apis(template, http_port, ws_port),
    }
}

/// The template's APIs and where they are served (what `!Ref` of them resolves to).
fn local_apis(template: &Template, http_port: u16, ws_port: u16) -> Vec<LocalApi> {
    let http = template.resources_of_type("AWS::Serverless::HttpApi").map(|(id, _)| (id, event::API_ID, http_port));
    let ws = template.resources_of_type("AWS::ApiGatewayV2::Api").map(|(id, _)| (id, ws_event::API_ID, ws_port));
    http.chain(ws)
        .map(|(id, api_id, port)| LocalApi {
            logical_id: id.to_string(),
            api_id: api_id.to_string(),
            url: format!("http://127.0.0.1:{port}"),
        })
        .collect()
}

/// The functions the routes and event sources lead to, with their binaries (all of which must exist).
fn functions_with_binaries(
    settings: &Settings,
    template: &Template,
    mut ids: Vec<String>,
) -> Result<Vec<(Function, std::path::PathBuf)>, String> {
    ids.sort();
    ids.dedup();
    let all = template.functions();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let function = all.iter().find(|f| f.logical_id == id).ok_or_else(|| {
            format!("{id} is routed to or triggered but has no Metadata.BuildProperties.Binary in the template")
        })?;
        let path = settings.bin_dir.join(&function.binary);
        if path.is_file() {
            found.push((function.clone(), path));
        } else {
            missing.push(function.binary.clone());
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "function binaries missing from {}: {}\n  Fix: build them with `cargo build --workspace --bins` (./infra/dev does), or set BIN_DIR to where they are",
            settings.bin_dir.display(),
            missing.join(", ")
        ));
    }
    Ok(found)
}

async fn bind(port: u16, what: &str, setting: &str) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        format!(
            "cannot listen on 127.0.0.1:{port} for {what}: {e}\n  Fix: stop whatever uses the port, or set {setting} to another port ({setting}=0: any free port)"
        )
    })
}

/// Lambda's environment for the function, then the template's (intrinsics resolved locally).
fn function_spec(
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
            Err(why) => unresolved.entry((key.clone(), why)).or_default().push(function.logical_id.clone()),
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
        arn: format!("arn:aws:lambda:{REGION}:{}:function:{name}", event::ACCOUNT_ID),
        logical_id: function.logical_id.clone(),
        function_name: name,
        binary: function.binary.clone(),
        path,
        env,
        timeout: Duration::from_secs(function.timeout_seconds),
        output: None,
    }
}

/// Resolves with the signal's name. Installed before anything starts, so that no signal can
/// leave a process behind.
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
        }
    })
}
