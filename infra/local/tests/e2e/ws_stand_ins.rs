//! The WebSocket API with stand-in functions (tests/fake_lambda.py) that record the events
//! they get: the exact events, route selection, two-way and one-way routes, the management API
//! and API Gateway's limits. Also the stand-in stack the stream tests use.

use super::ws_client::{Socket, WAIT};
use super::*;
use local_stack::WsApi;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket API and stream triggers, every function a stand-in. `__DIR__` is where they
/// record their events.
const STAND_IN_TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        RECORD_DIR: "__DIR__"
        WEBSOCKET_ENDPOINT: !Sub "https://${Ws}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  WsStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Ws, StageName: !Ref Stage}
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: $connect, Target: !Sub "integrations/${GateIntegration}"}
  GateIntegration: {Type: AWS::ApiGatewayV2::Integration, Properties: {ApiId: !Ref Ws, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${GateFunction.Arn}/invocations"}}
  DefaultRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: $default, RouteResponseSelectionExpression: $default, Target: !Sub "integrations/${EchoIntegration}"}
  DefaultResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties: {ApiId: !Ref Ws, RouteId: !Ref DefaultRoute, RouteResponseKey: $default}
  EchoIntegration: {Type: AWS::ApiGatewayV2::Integration, Properties: {ApiId: !Ref Ws, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${EchoFunction.Arn}/invocations"}}
  PingRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: ping, RouteResponseSelectionExpression: $default, Target: !Sub "integrations/${PongIntegration}"}
  PingResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties: {ApiId: !Ref Ws, RouteId: !Ref PingRoute, RouteResponseKey: $default}
  QuietRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: quiet, Target: !Sub "integrations/${PongIntegration}"}
  PongIntegration: {Type: AWS::ApiGatewayV2::Integration, Properties: {ApiId: !Ref Ws, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${PongFunction.Arn}/invocations"}}
  DisconnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: $disconnect, Target: !Sub "integrations/${DisconnectIntegration}"}
  DisconnectIntegration: {Type: AWS::ApiGatewayV2::Integration, Properties: {ApiId: !Ref Ws, IntegrationType: AWS_PROXY, IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${DisconnectedFunction.Arn}/invocations"}}
  GateFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: gate}}}
  EchoFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: echo}}}
  PongFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: pong}}}
  DisconnectedFunction: {Type: AWS::Serverless::Function, Metadata: {BuildProperties: {Binary: disconnected}}}
  RecordFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: record}}
    Properties:
      Events:
        Wanted:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            BatchSize: 2
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"kind": {"S": ["wanted"]}}}}'
  PartialFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: partial}}
    Properties:
      Events:
        Partial:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
            BatchSize: 10
            MaximumRetryAttempts: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria: {Filters: [{Pattern: '{"dynamodb": {"NewImage": {"kind": {"S": ["partial"]}}}}'}]}
  FailFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fail}}
    Properties:
      Events:
        Failing:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 1
            MaximumRetryAttempts: 2
            DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}}
            FilterCriteria: {Filters: [{Pattern: '{"dynamodb": {"NewImage": {"kind": {"S": [{"prefix": "fail"}]}}}}'}]}
"#;

const STAND_INS: [&str; 7] = ["gate", "echo", "pong", "disconnected", "record", "partial", "fail"];

/// A directory with the stand-ins and the template, and the gateway serving them.
pub(crate) fn stand_in_stack(extra_env: &[(&str, &str)]) -> (Gateway, PathBuf) {
    let dir = stand_in_dir("ws", &STAND_INS);
    let template = STAND_IN_TEMPLATE.replace("__DIR__", dir.to_str().unwrap());
    std::fs::write(dir.join("template.yaml"), template).unwrap();
    let secret = "s".repeat(40);
    let (bin_dir, template) = (dir.to_str().unwrap().to_string(), dir.join("template.yaml"));
    let mut env =
        vec![("BIN_DIR", bin_dir.as_str()), ("TEMPLATE", template.to_str().unwrap()), ("JWT_SECRET", &secret)];
    env.extend_from_slice(extra_env);
    (Gateway::start(&env), dir)
}

/// The events a stand-in recorded so far.
pub(crate) fn recorded(dir: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Waits until the stand-in has recorded at least `count` events.
pub(crate) async fn recorded_at_least(dir: &Path, name: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = recorded(dir, name);
        if events.len() >= count {
            return events;
        }
        assert!(Instant::now() < deadline, "{name} recorded {} event(s), not {count}: {events:#?}", events.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_events_routes_and_limits_with_stand_ins() {
    let (gw, dir) = stand_in_stack(&[("WS_IDLE_TIMEOUT_SECONDS", "3"), ("WS_MAX_CONNECTION_SECONDS", "8")]);
    let port = gw.ws.rsplit(':').next().unwrap().to_string();

    // A non-2xx $connect refuses the handshake with that status and body.
    let refused = Socket::connect(&format!("{}/dev?deny=1", gw.ws)).await.unwrap_err();
    assert_eq!((refused.status, refused.body.as_str()), (403, "denied by gate"));

    // The CONNECT event: headers (with API Gateway's), query parameters, the request context.
    let mut request = format!("{}/dev?token=abc&x=1&x=2", gw.ws).into_client_request().unwrap();
    request.headers_mut().insert("x-custom", "yes".parse().unwrap());
    request.headers_mut().insert("user-agent", "e2e-ws".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("accepted");
    let mut socket = Socket::from_stream(ws);
    let connect = recorded_at_least(&dir, "gate", 2).await.pop().unwrap();
    let headers = &connect["headers"];
    assert_eq!(
        (headers["X-Custom"].as_str(), headers["Host"].as_str()),
        (Some("yes"), Some(&*format!("127.0.0.1:{port}")))
    );
    assert!(headers["Sec-Websocket-Key"].is_string() && headers["X-Amzn-Trace-Id"].is_string(), "{headers}");
    assert_eq!(
        (headers["X-Forwarded-For"].as_str(), headers["X-Forwarded-Proto"].as_str()),
        (Some("127.0.0.1"), Some("http"))
    );
    assert_eq!(connect["multiValueHeaders"]["X-Custom"], json!(["yes"]));
    assert_eq!(connect["queryStringParameters"], json!({"token": "abc", "x": "2"}));
    assert_eq!(connect["multiValueQueryStringParameters"], json!({"token": ["abc"], "x": ["1", "2"]}));
    assert_eq!(connect["isBase64Encoded"], false);
    let context = &connect["requestContext"];
    let id = context["connectionId"].as_str().unwrap().to_string();
    assert!(id.len() == 16 && id.ends_with('='), "{id}");
    for (key, value) in [
        ("routeKey", "$connect"),
        ("eventType", "CONNECT"),
        ("messageDirection", "IN"),
        ("stage", "dev"),
        ("apiId", "localwsapi"),
    ] {
        assert_eq!(context[key], value, "{context}");
    }
    assert_eq!(context["domainName"], format!("127.0.0.1:{port}"));
    assert_eq!(context["identity"], json!({"sourceIp": "127.0.0.1", "userAgent": "e2e-ws"}));
    assert!(context["connectedAt"].is_i64() && context["requestTimeEpoch"].is_i64(), "{context}");
    assert!(
        context["requestId"].is_string()
            && context["extendedRequestId"].is_string()
            && context["requestTime"].is_string()
    );

    // MESSAGE events: text as is, binary base64; the two-way route's answer comes back.
    socket.send_text(r#"{"hello": 1}"#).await;
    let echo = socket.next_json().await;
    let event = &echo["event"];
    assert_eq!((event["body"].as_str(), &event["isBase64Encoded"]), (Some(r#"{"hello": 1}"#), &json!(false)));
    let context = &event["requestContext"];
    assert_eq!((context["routeKey"].as_str(), context["eventType"].as_str()), (Some("$default"), Some("MESSAGE")));
    assert_eq!(context["connectionId"], id.as_str());
    assert!(context["messageId"].is_string() && event.get("headers").is_none(), "{event}");
    // The management endpoint every function is given: the local WebSocket port and the stage.
    assert_eq!(echo["env"]["WEBSOCKET_ENDPOINT"], format!("http://127.0.0.1:{port}/dev"));
    socket.send(Message::binary(vec![0xff, 0x00])).await;
    let echo = socket.next_json().await;
    assert_eq!((echo["event"]["body"].as_str(), &echo["event"]["isBase64Encoded"]), (Some("/wA="), &json!(true)));

    // Route selection on `action`; a one-way route answers nothing; `$default` takes the rest.
    socket.send_json(json!({"action": "ping"})).await;
    assert_eq!(socket.next_text_within(WAIT).await.as_deref(), Some("pong"));
    socket.send_json(json!({"action": "quiet"})).await;
    // Both reach the function (waited for, not assumed after a fixed time) ...
    assert_eq!(recorded_at_least(&dir, "pong", 2).await.len(), 2, "both ping and quiet reached the function");
    // ... and the one negative check: the one-way route answered nothing meanwhile.
    socket.silent_for(Duration::from_millis(800)).await.expect("a one-way route sends nothing back");
    socket.send_json(json!({"action": "unknown"})).await;
    assert_eq!(socket.next_json().await["event"]["requestContext"]["routeKey"], "$default");

    // The management API reaches the socket, with any stage prefix.
    let http = gw.ws.replace("ws://", "http://");
    let encoded = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC).to_string();
    for prefix in ["", "/dev", "/anything"] {
        let posted =
            call("POST", &format!("{http}{prefix}/@connections/{encoded}"), &[], format!("from {prefix:?}")).await;
        assert_eq!(posted.status, 200);
        assert_eq!(socket.next_text_within(WAIT).await, Some(format!("from {prefix:?}")));
    }
    let too_big = call("POST", &format!("{http}/@connections/{encoded}"), &[], vec![b'x'; 128 * 1024 + 1]).await;
    assert_eq!((too_big.status, too_big.header("x-amzn-errortype")), (413, Some("PayloadTooLargeException")));

    // A frame over 32 KB closes the socket with 1009, and $disconnect says so.
    socket.send_text(&"x".repeat(32 * 1024 + 1)).await;
    assert_eq!(socket.closed_with().await, Some(1009));
    let disconnect = recorded_at_least(&dir, "disconnected", 1).await.pop().unwrap();
    let context = &disconnect["requestContext"];
    assert_eq!(
        (context["routeKey"].as_str(), context["eventType"].as_str()),
        (Some("$disconnect"), Some("DISCONNECT"))
    );
    assert_eq!((context["connectionId"].as_str(), context["disconnectStatusCode"].as_u64()), (Some(&*id), Some(1009)));
    let gone = call("POST", &format!("{http}/@connections/{encoded}"), &[], "late").await;
    assert_eq!(gone.status, 410);

    // A client's close: its code and reason reach $disconnect.
    let socket = Socket::open(&format!("{}/dev", gw.ws)).await;
    socket.close().await;
    let disconnect = recorded_at_least(&dir, "disconnected", 2).await.pop().unwrap();
    assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1000);
    assert_eq!(disconnect["requestContext"]["disconnectReason"], "bye");

    // Idle for WS_IDLE_TIMEOUT_SECONDS: closed with 1001. Busy, but open WS_MAX_CONNECTION_SECONDS: the same.
    let started = Instant::now();
    let mut idle = Socket::open(&format!("{}/dev", gw.ws)).await;
    let mut busy = Socket::open(&format!("{}/dev", gw.ws)).await;
    let idle_closed = idle.closed_with();
    let keep_busy = async {
        loop {
            busy.send(Message::Ping(Default::default())).await;
            if tokio::time::timeout(Duration::from_millis(500), busy.closed_with()).await.is_ok() {
                return started.elapsed();
            }
        }
    };
    let (idle_code, busy_after) = tokio::join!(idle_closed, keep_busy);
    assert_eq!(idle_code, Some(1001));
    // Not before the limit; the upper bound only catches a limit that is not applied at all.
    assert!(busy_after >= Duration::from_secs(7) && busy_after < Duration::from_secs(60), "{busy_after:?}");

    gw.stop_leaving_nothing();
    let _ = std::fs::remove_dir_all(dir);
}

/// The local WebSocket route table is the template's, read here independently; a route added
/// to the template is selected with no other change.
#[test]
fn ws_route_table_is_the_templates() {
    let path = local_stack::project_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let resources = yaml["Resources"].as_mapping().unwrap();
    let tagged_text = |v: &serde_yaml_ng::Value| match v {
        serde_yaml_ng::Value::Tagged(t) => t.value.as_str().unwrap().to_string(),
        other => other.as_str().unwrap().to_string(),
    };
    let mut expected = Vec::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let key = resource["Properties"]["RouteKey"].as_str().unwrap().to_string();
        let integration =
            tagged_text(&resource["Properties"]["Target"]).replace("integrations/${", "").replace('}', "");
        let uri = tagged_text(&resources[integration.as_str()]["Properties"]["IntegrationUri"]);
        let function = uri.split("/functions/${").nth(1).unwrap().split(".Arn}").next().unwrap().to_string();
        expected.push((key, function));
    }
    expected.sort();
    assert!(expected.iter().any(|(k, _)| k == "$connect"), "{expected:?}");

    let locals = test_locals();
    let api = WsApi::from_template(&Template::parse(&text).unwrap(), &locals).unwrap().expect("a WebSocket API");
    let actual: Vec<(String, String)> = api.routes.values().map(|r| (r.key.clone(), r.function.clone())).collect();
    assert_eq!(actual, expected);
    assert_eq!(api.stage, "v1");
    assert!(api.route("$default").unwrap().two_way && !api.route("$connect").unwrap().two_way);
    // Only `$default` is defined, so every frame goes there.
    assert_eq!(api.select(br#"{"action":"sendMessage"}"#).unwrap().key, "$default");
    assert_eq!(api.select(b"not json").unwrap().key, "$default");

    // An action route added to the template is selected.
    let added = text.replacen(
        "  WsDefaultRouteResponse:",
        "  WsTypingRoute:\n    Type: AWS::ApiGatewayV2::Route\n    Properties:\n      ApiId: !Ref WebSocketApi\n      RouteKey: typing\n      Target: !Sub \"integrations/${WsConnectIntegration}\"\n  WsDefaultRouteResponse:",
        1,
    );
    assert_ne!(added, text, "the template no longer has WsDefaultRouteResponse: update this test");
    let api = WsApi::from_template(&Template::parse(&added).unwrap(), &locals).unwrap().unwrap();
    let typing = api.select(br#"{"action": "typing", "conversation_id": "x"}"#).unwrap();
    assert_eq!((typing.key.as_str(), typing.function.as_str(), typing.two_way), ("typing", "WsConnectFunction", false));
    assert_eq!(api.select(br#"{"action": "whoami"}"#).unwrap().key, "$default");
}
