//! What the template's intrinsic functions (`!Ref`, `!Sub`, `!If`, `!Select`, conditions,
//! dynamic references) give in the local stack, where the deployed stack's values are stood in
//! for by [`LocalValues`].

use super::Template;
use crate::error::{Error, Result};
use serde_yaml_ng::Value;

/// What the local stack stands in for the deployed stack's intrinsic values.
#[derive(Debug, Clone)]
pub struct LocalValues {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// `!Ref` of the table.
    pub table_name: String,
    /// Every `{{resolve:secretsmanager:...}}` (the template's only secret is the JWT key).
    pub secret: String,
    /// Where the AWS APIs the functions call are served (Secrets Manager; `@connections` too).
    pub aws_endpoint: String,
    /// The APIs served locally.
    pub apis: Vec<LocalApi>,
}

impl LocalValues {
    /// The ARN `!Ref` of a template secret gives, and that the local Secrets Manager serves it under.
    pub fn secret_arn(&self, logical_id: &str) -> String {
        format!("arn:aws:secretsmanager:{}:{}:secret:{logical_id}", self.region, self.account_id)
    }
}

/// An API of the template as the local stack serves it.
#[derive(Debug, Clone)]
pub struct LocalApi {
    pub logical_id: String,
    /// What `!Ref` of the API gives (an API id on AWS).
    pub api_id: String,
    /// Where it is served, `http://127.0.0.1:<port>`.
    pub url: String,
}
impl Template {
    /// The value CloudFormation would give `value` in the local stack: literals as written,
    /// `!Ref`/`!Sub` of parameters (their defaults), pseudo parameters, the table and the
    /// secret. Anything else is an error naming what cannot be resolved.
    pub fn resolve(&self, value: &Value, locals: &LocalValues) -> Result<String> {
        self.resolve_optional(value, locals)?
            .ok_or_else(|| Error::Template("AWS::NoValue where a value is needed".into()))
    }

    /// `None` for `AWS::NoValue` (a property or variable left unset), which `!If` may choose.
    pub fn resolve_optional(&self, value: &Value, locals: &LocalValues) -> Result<Option<String>> {
        match value {
            Value::Tagged(tagged) if tagged.tag == "If" => {
                let (name, then, otherwise) = match tagged.value.as_sequence().map(Vec::as_slice) {
                    Some([Value::String(name), then, otherwise]) => (name, then, otherwise),
                    _ => return Err(Error::Template("!If takes [condition, value if true, value if false]".into())),
                };
                let chosen = if self.condition(name, locals)? { then } else { otherwise };
                self.resolve_optional(chosen, locals)
            }
            Value::Tagged(tagged) if tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue") => Ok(None),
            _ => self.resolve_value(value, locals).map(|text| Some(localize_api_urls(text, locals))),
        }
    }

    /// A condition of the template's `Conditions`, with parameters at their defaults.
    fn condition(&self, name: &str, locals: &LocalValues) -> Result<bool> {
        let value = self
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| Error::Template(format!("no condition {name} in the template")))?;
        self.evaluate(value, locals)
    }

    fn evaluate(&self, value: &Value, locals: &LocalValues) -> Result<bool> {
        let Value::Tagged(tagged) = value else { return Err(Error::Template(format!("{value:?} is not a condition"))) };
        let args = tagged.value.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match (tagged.tag.to_string().trim_start_matches('!'), args) {
            ("Equals", [a, b]) => Ok(self.resolve(a, locals)? == self.resolve(b, locals)?),
            ("Not", [c]) => Ok(!self.evaluate(c, locals)?),
            ("And", conditions) => conditions.iter().try_fold(true, |all, c| Ok(all && self.evaluate(c, locals)?)),
            ("Or", conditions) => conditions.iter().try_fold(false, |any, c| Ok(any || self.evaluate(c, locals)?)),
            ("Condition", _) => self.condition(
                tagged.value.as_str().ok_or_else(|| Error::Template("!Condition takes a name".into()))?,
                locals,
            ),
            (tag, _) => Err(Error::Template(format!("condition !{tag} is not supported locally"))),
        }
    }

    fn resolve_value(&self, value: &Value, locals: &LocalValues) -> Result<String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Tagged(tagged) if tagged.tag == "Ref" => self.resolve_ref(
                tagged.value.as_str().ok_or_else(|| Error::Template("!Ref takes a name".into()))?,
                locals,
            )?,
            Value::Tagged(tagged) if tagged.tag == "Sub" => return self.resolve_sub(&tagged.value, locals),
            Value::Tagged(tagged) if tagged.tag == "Select" => {
                let (index, list) = match tagged.value.as_sequence().map(Vec::as_slice) {
                    Some([index, list]) => (index, list),
                    _ => return Err(Error::Template("!Select takes [index, list]".into())),
                };
                let index: usize = self
                    .resolve(index, locals)?
                    .parse()
                    .map_err(|_| Error::Template("!Select takes a number index".into()))?;
                let list = self.resolve_list(list, locals)?;
                list.get(index).cloned().ok_or_else(|| {
                    Error::Template(format!("!Select index {index} is past the list's {}", list.len()))
                })?
            }
            Value::Mapping(m) if m.len() == 1 && value.get("Ref").is_some() => self.resolve_ref(
                value.get("Ref").and_then(Value::as_str).ok_or_else(|| Error::Template("Ref takes a name".into()))?,
                locals,
            )?,
            Value::Mapping(m) if m.len() == 1 && value.get("Fn::Sub").is_some() => {
                return self.resolve_sub(&value["Fn::Sub"], locals);
            }
            Value::Tagged(tagged) => return Err(Error::Template(format!("{} is not supported locally", tagged.tag))),
            other => return Err(Error::Template(format!("{other:?} is not supported locally"))),
        };
        resolve_dynamic_references(&text, locals)
    }

    /// A list: literal items, or `!Split [delimiter, string]`.
    fn resolve_list(&self, value: &Value, locals: &LocalValues) -> Result<Vec<String>> {
        match value {
            Value::Sequence(items) => items.iter().map(|item| self.resolve(item, locals)).collect(),
            Value::Tagged(tagged) if tagged.tag == "Split" => match tagged.value.as_sequence().map(Vec::as_slice) {
                Some([delimiter, text]) => {
                    let delimiter = self.resolve(delimiter, locals)?;
                    Ok(self.resolve(text, locals)?.split(delimiter.as_str()).map(str::to_string).collect())
                }
                _ => Err(Error::Template("!Split takes [delimiter, string]".into())),
            },
            other => Err(Error::Template(format!("{other:?} is not a list the local stack resolves"))),
        }
    }

    fn resolve_ref(&self, name: &str, locals: &LocalValues) -> Result<String> {
        match name {
            "AWS::StackName" => return Ok(locals.stack_name.clone()),
            "AWS::Region" => return Ok(locals.region.clone()),
            "AWS::AccountId" => return Ok(locals.account_id.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        if let Some(param) = self.root.get("Parameters").and_then(|p| p.get(name)) {
            let default =
                param.get("Default").ok_or_else(|| Error::Template(format!("parameter {name} has no Default")))?;
            return self.resolve(default, locals);
        }
        match self.resources().find(|(id, _)| *id == name).and_then(|(_, r)| r.get("Type")?.as_str()) {
            Some("AWS::DynamoDB::Table") => Ok(locals.table_name.clone()),
            Some("AWS::SecretsManager::Secret") => Ok(locals.secret_arn(name)),
            Some("AWS::ApiGatewayV2::Api" | "AWS::Serverless::HttpApi") => locals
                .apis
                .iter()
                .find(|api| api.logical_id == name)
                .map(|api| api.api_id.clone())
                .ok_or_else(|| Error::Template(format!("!Ref {name}: the API is not served locally"))),
            Some(kind) => Err(Error::Template(format!("!Ref {name} ({kind}) has no local value"))),
            None => Err(Error::Template(format!("!Ref {name}: no such parameter or resource"))),
        }
    }

    fn resolve_sub(&self, value: &Value, locals: &LocalValues) -> Result<String> {
        let (template, vars) = match value {
            Value::String(s) => (s.as_str(), None),
            Value::Sequence(items) if items.len() == 2 => {
                (items[0].as_str().ok_or_else(|| Error::Template("!Sub takes a string".into()))?, items[1].as_mapping())
            }
            _ => return Err(Error::Template("!Sub takes a string or [string, variables]".into())),
        };
        let mut out = String::new();
        let mut rest = template;
        // One pass over both `${...}` and `{{resolve:...}}`, in the order they come.
        loop {
            let sub = rest.find("${");
            let dynamic = rest.find("{{resolve:");
            let start = match (sub, dynamic) {
                (None, None) => break,
                (Some(s), Some(d)) => s.min(d),
                (Some(s), None) => s,
                (None, Some(d)) => d,
            };
            out.push_str(&rest[..start]);
            if Some(start) == dynamic {
                let end =
                    rest[start..].find("}}").ok_or_else(|| Error::Template("unclosed {{resolve: in !Sub".into()))?
                        + start;
                out.push_str(&dynamic_reference(&rest[start + 2..end], locals)?);
                rest = &rest[end + 2..];
                continue;
            }
            let end = rest[start..].find('}').ok_or_else(|| Error::Template("unclosed ${ in !Sub".into()))? + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.resolve(v, locals)?);
            } else if name.contains('.') {
                return Err(Error::Template(format!("${{{name}}} (an attribute) has no local value")));
            } else {
                out.push_str(&self.resolve_ref(name, locals)?);
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `https://{api id}.execute-api.{region}.amazonaws.com` (and `wss://`) becomes the API's local
/// URL: the management endpoint the template builds with `!Sub` must reach the local API.
fn localize_api_urls(mut text: String, locals: &LocalValues) -> String {
    for api in &locals.apis {
        let host = format!("{}.execute-api.{}.amazonaws.com", api.api_id, locals.region);
        let ws_url = api.url.replacen("http://", "ws://", 1);
        text = text.replace(&format!("https://{host}"), &api.url).replace(&format!("wss://{host}"), &ws_url);
    }
    text
}
/// `{{resolve:secretsmanager:...}}` in a literal becomes the local secret.
fn resolve_dynamic_references(text: &str, locals: &LocalValues) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{resolve:") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| Error::Template("unclosed {{resolve:".into()))? + start;
        out.push_str(&dynamic_reference(&rest[start + 2..end], locals)?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `resolve:secretsmanager:...` is the local secret; other services are not emulated.
fn dynamic_reference(reference: &str, locals: &LocalValues) -> Result<String> {
    if reference.starts_with("resolve:secretsmanager:") {
        Ok(locals.secret.clone())
    } else {
        Err(Error::Template(format!("{{{{{reference}}}}} has no local value")))
    }
}
