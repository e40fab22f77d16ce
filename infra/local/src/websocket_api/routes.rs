//! The WebSocket API's route table, read from the template's `AWS::ApiGatewayV2::*` resources
//! (never written down here): each `Route`'s `Target` names an `Integration` whose
//! `IntegrationUri` names the function (`${SomeFunction.Arn}`); a `RouteResponse` on the route
//! makes it two-way. Route selection follows the API's `RouteSelectionExpression`.

use crate::error::{Error, Result};
use crate::template::{LocalValues, Template, get_att, ref_name, sub_text};
use serde_json::Value as Json;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsRoute {
    /// `$connect`, `$disconnect`, `$default`, or an action.
    pub key: String,
    /// The function's logical id.
    pub function: String,
    /// The integration's response body goes back to the client as a frame.
    pub two_way: bool,
}

#[derive(Debug, Clone)]
pub struct WsApi {
    pub logical_id: String,
    /// `$request.body.action`: where a message's route key is read.
    pub selection_expression: String,
    /// The stage's `StageName` (the event's `requestContext.stage`); `$default` without a stage.
    pub stage: String,
    pub routes: BTreeMap<String, WsRoute>,
}

impl WsApi {
    /// The template's WebSocket API (`ProtocolType: WEBSOCKET`), if it has one.
    pub fn from_template(template: &Template, locals: &LocalValues) -> Result<Option<Self>> {
        let mut apis = template.resources_of_type("AWS::ApiGatewayV2::Api").filter(|(_, api)| {
            api.get("Properties").and_then(|p| p.get("ProtocolType")).and_then(Value::as_str) == Some("WEBSOCKET")
        });
        let Some((api_id, api)) = apis.next() else { return Ok(None) };
        if let Some((other, _)) = apis.next() {
            return Err(Error::Template(format!(
                "the template declares two WebSocket APIs ({api_id}, {other}); one is served locally"
            )));
        }
        let props = api.get("Properties").ok_or_else(|| Error::Template(format!("{api_id} has no Properties")))?;
        let selection_expression = props
            .get("RouteSelectionExpression")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Template(format!("{api_id} has no RouteSelectionExpression")))?
            .to_string();
        let of_api = |kind: &'static str| {
            template.resources_of_type(kind).filter(move |(_, r)| {
                r.get("Properties").and_then(|p| p.get("ApiId")).and_then(ref_name) == Some(api_id)
            })
        };
        let stage = match of_api("AWS::ApiGatewayV2::Stage").next() {
            Some((id, stage)) => {
                let name = stage.get("Properties").and_then(|p| p.get("StageName"));
                template.resolve(name.ok_or_else(|| Error::Template(format!("{id} has no StageName")))?, locals)?
            }
            None => "$default".to_string(),
        };
        let two_way: Vec<&str> = of_api("AWS::ApiGatewayV2::RouteResponse")
            .filter_map(|(_, r)| r.get("Properties")?.get("RouteId").and_then(ref_name))
            .collect();
        let mut routes = BTreeMap::new();
        for (id, route) in of_api("AWS::ApiGatewayV2::Route") {
            let props = route.get("Properties").ok_or_else(|| Error::Template(format!("{id} has no Properties")))?;
            let key = props
                .get("RouteKey")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Template(format!("{id} has no RouteKey")))?;
            let function = route_function(template, id, props)?;
            // API Gateway sends the integration's answer back only when the route has both.
            let two_way = two_way.contains(&id) && props.get("RouteResponseSelectionExpression").is_some();
            let route = WsRoute { key: key.to_string(), function, two_way };
            if let Some(other) = routes.insert(key.to_string(), route) {
                return Err(Error::Template(format!("{id} and the route to {} both claim {key}", other.function)));
            }
        }
        Ok(Some(Self { logical_id: api_id.to_string(), selection_expression, stage, routes }))
    }

    pub fn route(&self, key: &str) -> Option<&WsRoute> {
        self.routes.get(key)
    }

    /// The route of a message: the one named by the selection expression's value in the body,
    /// else `$default` (`None` when there is no `$default` either: API Gateway answers an error).
    pub fn select(&self, body: &[u8]) -> Option<&WsRoute> {
        let selected = self
            .selection_expression
            .strip_prefix("$request.body.")
            .and_then(|path| {
                let json: Json = serde_json::from_slice(body).ok()?;
                path.split('.').try_fold(&json, |v, key| v.get(key))?.as_str().map(str::to_string)
            })
            .filter(|key| !key.starts_with('$'));
        selected.and_then(|key| self.routes.get(&key)).or_else(|| self.routes.get("$default"))
    }

    /// The logical ids of every function a route leads to.
    pub fn functions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.routes.values().map(|r| r.function.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// `Target: integrations/${Integration}` → the integration's `IntegrationUri` →
/// `...functions/${Function.Arn}/invocations`.
fn route_function(template: &Template, route_id: &str, props: &Value) -> Result<String> {
    let target =
        props.get("Target").and_then(sub_text).ok_or_else(|| Error::Template(format!("{route_id} has no Target")))?;
    let integration_id = target
        .strip_prefix("integrations/")
        .map(|rest| rest.trim_start_matches("${").trim_end_matches('}'))
        .ok_or_else(|| Error::Template(format!("{route_id}: Target {target:?} is not integrations/<id>")))?;
    let integration = template
        .resource(integration_id)
        .and_then(|r| r.get("Properties"))
        .ok_or_else(|| Error::Template(format!("{route_id}: no integration {integration_id}")))?;
    let uri = integration
        .get("IntegrationUri")
        .ok_or_else(|| Error::Template(format!("{integration_id} has no IntegrationUri")))?;
    let function = match get_att(uri) {
        Some((function, attribute)) if attribute == "Arn" => Some(function),
        _ => sub_text(uri).and_then(|text| {
            let (before, _) = text.split_once(".Arn}")?;
            let (_, name) = before.rsplit_once("${")?;
            Some(name.to_string())
        }),
    };
    let function = function.ok_or_else(|| {
        Error::Template(format!("{integration_id}: IntegrationUri names no function (${{Function.Arn}})"))
    })?;
    match template.resource_type(&function) {
        Some("AWS::Serverless::Function") => Ok(function),
        _ => Err(Error::Template(format!(
            "{integration_id}: {function} is not an AWS::Serverless::Function of the template"
        ))),
    }
}
