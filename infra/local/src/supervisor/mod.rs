//! The supervisor of `local-gateway`: starts DynamoDB (dynoxide, in this process) and the
//! table, the HTTP API, the WebSocket API and the stream event sources, prints one readiness
//! line, and on SIGINT/SIGTERM/SIGHUP stops every process it started.

mod functions;

pub use functions::function_specs;

use crate::dynamodb::{self, LocalDynamoDb};
use crate::error::{Error, Result};
use crate::http_api::{self, Gateway, RouteTable};
use crate::lambda::{Children, Pool};
use crate::settings::Settings;
use crate::streams::{self, StreamSource};
use crate::template::Template;
use crate::websocket_api::{self, WsApi, WsGateway};
use functions::{function_spec, functions_with_binaries, local_secrets, local_values};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

struct Running {
    http_port: u16,
    ws_port: u16,
    dynamodb: String,
    servers: Vec<JoinHandle<()>>,
}

pub async fn run(settings: Settings) -> Result<()> {
    let shutdown = shutdown_signal().map_err(|e| Error::Startup(format!("cannot listen for signals: {e}")))?;
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

async fn start(settings: &Settings, children: &Children, local: &mut Option<LocalDynamoDb>) -> Result<Running> {
    let template = Template::load(&settings.template)?;
    let routes = RouteTable::from_template(&template)?;
    // Ports first: a taken port fails before anything else starts.
    let http = bind(settings.http_port, "the HTTP API", "HTTP_PORT").await?;
    let ws = bind(settings.ws_port, "the WebSocket API", "WS_PORT").await?;
    let http_port = http.local_addr().map_err(|e| Error::Startup(e.to_string()))?.port();
    let ws_port = ws.local_addr().map_err(|e| Error::Startup(e.to_string()))?.port();

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
                let fix = if e.to_string().contains("in use") {
                    "set DYNAMODB_PORT to a free port (DYNAMODB_PORT=0: any free port)"
                } else {
                    "check LOCAL_DATA_DIR (./infra/dev --fresh starts empty), or set DYNAMODB_ENDPOINT to a running DynamoDB"
                };
                Error::DynamoDb(format!("{e}\n  Fix: {fix}"))
            })?;
            let started = local.insert(started);
            (started.endpoint(), started.describe())
        }
    };
    let client = dynamodb::local_client(&dynamodb);
    let definition = template.table()?;
    let created = tokio::time::timeout(
        Duration::from_secs(30),
        dynamodb::ensure_table(&client, &settings.table_name, &definition),
    )
    .await
    .map_err(|_| Error::DynamoDb(format!("DynamoDB at {dynamodb} did not answer within 30 s")))?
    .map_err(|e| {
        Error::DynamoDb(format!(
            "{e} at {dynamodb}\n  Fix: check DYNAMODB_ENDPOINT, or unset it to use the local DynamoDB"
        ))
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
        std::fs::create_dir_all(&failures_dir)
            .map_err(|e| Error::Startup(format!("{}: {e}", failures_dir.display())))?;
    }
    for source in sources {
        let stream_arn = dynamodb::latest_stream_arn(&client, &settings.table_name).await?.ok_or_else(|| {
            Error::DynamoDb(format!(
                "{}.{} reads the stream of table {}, which has none\n  Fix: give the table a StreamSpecification (or let the local stack create it: another TABLE_NAME)",
                source.function, source.event, settings.table_name
            ))
        })?;
        let pool = pools[&source.function].clone();
        let hash_key = hash_key.clone().unwrap_or_default();
        servers
            .push(streams::start(streams.clone(), source, stream_arn, hash_key, pool, created, &failures_dir).await?);
    }
    let gateway = Gateway { cors: template.http_api_cors(&locals)?, routes, pools: pools.clone() };
    servers.push(tokio::spawn(http_api::serve(http, Arc::new(gateway))));
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
            tokio::spawn(websocket_api::serve(ws, Arc::new(gateway)))
        }
        None => tokio::spawn(websocket_api::serve_placeholder(ws)),
    });
    Ok(Running { http_port, ws_port, dynamodb, servers })
}

async fn bind(port: u16, what: &str, setting: &str) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        Error::Startup(format!(
            "cannot listen on 127.0.0.1:{port} for {what}: {e}\n  Fix: stop whatever uses the port, or set {setting} to another port ({setting}=0: any free port)"
        ))
    })
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
