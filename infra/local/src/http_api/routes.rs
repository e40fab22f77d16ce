//! The HTTP API's route table, built only from the template's `HttpApi` events, and API
//! Gateway's route selection: the most specific match wins, `$default` takes the rest.

use crate::error::{Error, Result};
use crate::template::Template;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: the rest of the path.
    Greedy(String),
}

#[derive(Debug, Clone)]
struct Route {
    /// Upper case; `ANY` matches every method.
    method: String,
    path: String,
    segments: Vec<Segment>,
    function: String,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// `"POST /api/messages"` or `"$default"`.
    pub route_key: String,
    /// The function's logical id.
    pub function: String,
    pub path_params: BTreeMap<String, String>,
}

impl RouteTable {
    pub fn from_template(template: &Template) -> Result<Self> {
        let mut table = Self::default();
        for route in template.http_routes() {
            match (route.method, route.path) {
                (None, None) => {
                    if let Some(other) = table.default.replace(route.function.clone()) {
                        return Err(Error::Template(format!(
                            "both {other} and {} claim the $default route",
                            route.function
                        )));
                    }
                }
                (method, Some(path)) => {
                    let method = method.unwrap_or_else(|| "ANY".into());
                    if !path.starts_with('/') {
                        return Err(Error::Template(format!(
                            "{}: route path {path:?} does not start with /",
                            route.function
                        )));
                    }
                    // As API Gateway's CreateRoute does (and SAM silently drops such paths).
                    if path.len() > 1 && path.ends_with('/') {
                        return Err(Error::Template(format!(
                            "{}: route path {path:?} ends with /, which an HTTP API refuses (the $default fallback answers trailing slashes)",
                            route.function
                        )));
                    }
                    if let Some(other) = table.routes.iter().find(|r| r.method == method && r.path == path) {
                        return Err(Error::Template(format!(
                            "{} and {} both claim {method} {path}",
                            other.function, route.function
                        )));
                    }
                    let segments = split(&path).map(parse_segment).collect();
                    table.routes.push(Route { method, path, segments, function: route.function });
                }
                (Some(method), None) => {
                    return Err(Error::Template(format!(
                        "{}: an HttpApi event with Method {method} has no Path",
                        route.function
                    )));
                }
            }
        }
        Ok(table)
    }

    /// Every route key, `$default` included, sorted.
    pub fn route_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        keys.extend(self.default.as_ref().map(|_| "$default".to_string()));
        keys.sort();
        keys
    }

    /// The logical ids of every function a route leads to.
    pub fn functions(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.routes.iter().map(|r| r.function.clone()).chain(self.default.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The route API Gateway would pick for `method` and the raw (still percent-encoded) `path`.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched> {
        let request: Vec<String> = split(path).map(decode).collect();
        let best = self
            .routes
            .iter()
            .filter(|r| r.method == method || r.method == "ANY")
            .filter_map(|r| Some((r, capture(&r.segments, &request)?)))
            .max_by_key(|(r, _)| specificity(r));
        match best {
            Some((route, path_params)) => Some(Matched {
                route_key: format!("{} {}", route.method, route.path),
                function: route.function.clone(),
                path_params,
            }),
            None => self.default.as_ref().map(|function| Matched {
                route_key: "$default".into(),
                function: function.clone(),
                path_params: BTreeMap::new(),
            }),
        }
    }
}

/// `/a/b/` → `a`, `b`, `` (a trailing slash is a segment of its own, as on API Gateway).
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn parse_segment(segment: &str) -> Segment {
    match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(name) => match name.strip_suffix('+') {
            Some(greedy) => Segment::Greedy(greedy.to_string()),
            None => Segment::Param(name.to_string()),
        },
        None => Segment::Literal(segment.to_string()),
    }
}

fn capture(segments: &[Segment], request: &[String]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(text) => (request.get(i)? == text).then_some(())?,
            Segment::Param(name) => {
                let value = request.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), value.clone());
            }
            Segment::Greedy(name) => {
                let rest = request.get(i..).filter(|rest| !rest.is_empty() && !rest[0].is_empty())?;
                params.insert(name.clone(), rest.join("/"));
                return Some(params);
            }
        }
    }
    (segments.len() == request.len()).then_some(params)
}

/// Literal segments beat parameters, which beat greedy ones, left to right; then a route with
/// its own method beats `ANY`.
fn specificity(route: &Route) -> (Vec<u8>, bool) {
    let ranks = route
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        })
        .collect();
    (ranks, route.method != "ANY")
}
