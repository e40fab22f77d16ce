//! `template.yaml` is the one list of the functions and their routes. Every other list of them
//! is checked against it here, and each failure names what is missing where: the function's
//! crate and log group, its fixtures (`events/<crate>/`), the tests' dependencies and their
//! `functions!` list (`chat_tests::Function`), `chat_core::routes::ROUTES`, `openapi.yaml` and
//! the README's route table. Each check is a function of the lists, so `mod broken` can feed it
//! a list with a gap and see it fail.

use chat_tests::{Function, root};
use local_stack::Template;
use serde_yaml_ng::Value;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone)]
pub struct Declared {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the crate `functions/<krate>` and `events/<krate>/`.
    pub krate: String,
    /// Its `HttpApi` routes, `(METHOD, /path)`.
    pub routes: Vec<(String, String)>,
    /// Whether it serves the HTTP API's `$default` route.
    pub fallback: bool,
    /// The WebSocket API's route keys it serves (`$connect`, ...).
    pub websocket: Vec<String>,
    /// The `!Ref` of `LoggingConfig.LogGroup`, and that group's `LogGroupName` as written.
    pub log_group: Option<(String, Option<String>)>,
}

impl Declared {
    pub fn serves_http(&self) -> bool {
        self.fallback || !self.routes.is_empty()
    }

    /// Whether a request reaches it (a stream trigger serves none).
    pub fn serves_routes(&self) -> bool {
        self.serves_http() || !self.websocket.is_empty()
    }

    fn at(&self) -> String {
        format!("template function {} (crate {})", self.logical_id, self.krate)
    }
}

/// The template's functions, read once.
pub fn declared() -> &'static [Declared] {
    static DECLARED: LazyLock<Vec<Declared>> = LazyLock::new(|| {
        let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml reads");
        from_template(&text)
    });
    &DECLARED
}

/// The route a function of the HTTP API serves, `None` for the `$default` route.
pub fn http_route(function: Function) -> Option<(&'static str, &'static str)> {
    let declared = declared().iter().find(|d| d.krate == function.name());
    let declared = declared.unwrap_or_else(|| panic!("{} is no function of template.yaml", function.name()));
    match declared.routes.as_slice() {
        [] => None,
        [(method, path)] => Some((method.as_str(), path.as_str())),
        more => panic!("{}: one route per function expected, found {more:?}", declared.at()),
    }
}

fn from_template(text: &str) -> Vec<Declared> {
    let template = Template::parse(text).unwrap_or_else(|e| panic!("template.yaml: {e}"));
    let raw: Value = serde_yaml_ng::from_str(text).expect("template.yaml parses");
    let routes = template.http_routes();
    template
        .functions()
        .into_iter()
        .map(|f| {
            let own = || routes.iter().filter(|r| r.function == f.logical_id);
            let log_group = raw["Resources"][f.logical_id.as_str()]["Properties"]["LoggingConfig"]["LogGroup"]
                .as_tagged("Ref")
                .map(|group| (group.to_string(), log_group_name(&raw["Resources"][group])));
            Declared {
                routes: own().filter_map(|r| Some((r.method.clone()?, r.path.clone()?))).collect(),
                fallback: own().any(|r| r.method.is_none() && r.path.is_none()),
                websocket: websocket_routes(&raw, &f.logical_id),
                logical_id: f.logical_id,
                krate: f.binary,
                log_group,
            }
        })
        .collect()
}

/// The route keys of the `AWS::ApiGatewayV2::Route`s whose integration invokes `function`.
fn websocket_routes(raw: &Value, function: &str) -> Vec<String> {
    let resources = raw["Resources"].as_mapping().into_iter().flatten();
    let invokes = format!("${{{function}.Arn}}");
    resources
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::ApiGatewayV2::Route"))
        .filter_map(|(_, route)| {
            let target = route["Properties"]["Target"].as_tagged("Sub")?;
            let integration = target.strip_prefix("integrations/${")?.strip_suffix('}')?;
            let uri = raw["Resources"][integration]["Properties"]["IntegrationUri"].as_tagged("Sub")?;
            uri.contains(&invokes).then(|| route["Properties"]["RouteKey"].as_str().map(str::to_string))?
        })
        .collect()
}

/// `LogGroupName` of an `AWS::Logs::LogGroup` (`None` for another resource, or none).
fn log_group_name(resource: &Value) -> Option<String> {
    if resource["Type"].as_str() != Some("AWS::Logs::LogGroup") {
        return None;
    }
    let name = &resource["Properties"]["LogGroupName"];
    name.as_tagged("Sub").or(name.as_str()).map(str::to_string)
}

trait Tagged {
    /// The string under `!tag`.
    fn as_tagged(&self, tag: &str) -> Option<&str>;
}

impl Tagged for Value {
    fn as_tagged(&self, tag: &str) -> Option<&str> {
        match self {
            Value::Tagged(tagged) if tagged.tag == tag => tagged.value.as_str(),
            _ => None,
        }
    }
}

/// `users-get` is `UsersGet`: the template's `UsersGetFunction` and `UsersGetLogs`.
pub fn pascal(krate: &str) -> String {
    krate.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

fn route_name((method, path): &(String, String)) -> String {
    format!("{method} {path}")
}

fn http_routes(declared: &[Declared]) -> BTreeSet<(String, String)> {
    declared.iter().flat_map(|d| d.routes.iter().cloned()).collect()
}

// ---- The checks: each returns what is missing where, empty when all agree ----

/// Its logical id and log group follow the crate's name, and the group is its own.
pub fn check_names_and_log_groups(declared: &[Declared]) -> Vec<String> {
    let mut problems = Vec::new();
    for d in declared {
        let base = pascal(&d.krate);
        if d.logical_id != format!("{base}Function") {
            problems.push(format!("{}: the logical id should be {base}Function", d.at()));
        }
        match &d.log_group {
            None => problems.push(format!("{}: LoggingConfig.LogGroup is no !Ref to its log group", d.at())),
            Some((group, name)) => {
                if *group != format!("{base}Logs") {
                    problems.push(format!("{}: its log group should be {base}Logs, not {group}", d.at()));
                }
                let suffix = format!("/{}", d.krate);
                if !name.as_deref().is_some_and(|n| n.ends_with(&suffix)) {
                    problems.push(format!("{}: {group} is no AWS::Logs::LogGroup named …{suffix}", d.at()));
                }
            }
        }
    }
    problems
}

/// `functions/<crate>/` for each function (a crate with that name), and no other binary crate.
pub fn check_crates(declared: &[Declared], crates: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for d in declared {
        match crates.iter().find(|(dir, _)| *dir == d.krate) {
            None => problems.push(format!("{}: no crate functions/{}/", d.at(), d.krate)),
            Some((_, manifest)) if !manifest.lines().any(|l| l.trim() == format!("name = \"{}\"", d.krate)) => {
                problems.push(format!("{}: functions/{}/Cargo.toml names no `{}`", d.at(), d.krate, d.krate))
            }
            Some(_) => {}
        }
    }
    for (dir, _) in crates {
        if !declared.iter().any(|d| d.krate == *dir) {
            problems.push(format!("functions/{dir}/ has a binary, but no template function builds it"));
        }
    }
    problems
}

/// `events/<crate>/` holds fixtures for each function, and no folder is for another.
pub fn check_fixture_folders(declared: &[Declared], folders: &BTreeSet<String>) -> Vec<String> {
    let mut problems: Vec<String> = declared
        .iter()
        .filter(|d| !folders.contains(&d.krate))
        .map(|d| format!("{}: no events/{}/ fixtures", d.at(), d.krate))
        .collect();
    let known: BTreeSet<&str> = declared.iter().map(|d| d.krate.as_str()).collect();
    for folder in folders.iter().filter(|f| !known.contains(f.as_str())) {
        problems.push(format!("events/{folder}/: no template function has the crate {folder}"));
    }
    problems
}

/// `tests/Cargo.toml` depends on each function's crate (the tests call its handler).
pub fn check_test_dependencies(declared: &[Declared], manifest: &str) -> Vec<String> {
    let dependency = |krate: &str| format!("{krate} = {{ path = \"../functions/{krate}\" }}");
    let mut problems: Vec<String> = declared
        .iter()
        .filter(|d| !manifest.lines().any(|l| l.trim() == dependency(&d.krate)))
        .map(|d| format!("{}: no `{}` dependency in tests/Cargo.toml", d.at(), dependency(&d.krate)))
        .collect();
    for line in manifest.lines() {
        let Some((_, path)) = line.split_once("path = \"../functions/") else { continue };
        let krate = path.split('"').next().unwrap_or_default();
        if krate != "chat-core" && !declared.iter().any(|d| d.krate == krate) {
            problems.push(format!("tests/Cargo.toml depends on functions/{krate}, which no template function builds"));
        }
    }
    problems
}

/// `chat_tests::Function` (the `functions!` list) is exactly the HTTP API's functions.
pub fn check_function_list(declared: &[Declared], listed: &[&str]) -> Vec<String> {
    let http: Vec<&Declared> = declared.iter().filter(|d| d.serves_http()).collect();
    let mut problems: Vec<String> = http
        .iter()
        .filter(|d| !listed.contains(&d.krate.as_str()))
        .map(|d| {
            let entry = format!("{} => {}", pascal(&d.krate), d.krate.replace('-', "_"));
            format!("{}: serves the HTTP API, but tests/src/lib.rs's functions! list has no `{entry}`", d.at())
        })
        .collect();
    for name in listed.iter().filter(|n| !http.iter().any(|d| d.krate == **n)) {
        problems.push(format!("chat_tests::Function lists {name}, which serves no HttpApi route of template.yaml"));
    }
    problems
}

/// `chat_core::routes::ROUTES` (the fallback's 404/405 table) is exactly the template's routes.
pub fn check_route_table(declared: &[Declared], table: &[(&str, &str)]) -> Vec<String> {
    let deployed = http_routes(declared);
    let known: BTreeSet<(String, String)> = table.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let mut problems: Vec<String> =
        deployed.difference(&known).map(|r| format!("chat_core::routes::ROUTES lacks {}", route_name(r))).collect();
    for route in known.difference(&deployed) {
        problems
            .push(format!("chat_core::routes::ROUTES has {}, which template.yaml does not route", route_name(route)));
    }
    for (method, path) in table.iter().filter(|(_, p)| crate::openapi::normalise(p) != *p) {
        problems.push(format!("chat_core::routes::ROUTES has {method} {path}, ending in /"));
    }
    problems
}

/// `openapi.yaml` has an operation for each route, and none for a route the template lacks
/// (trailing-slash variants count once).
pub fn check_openapi(declared: &[Declared], documented: &BTreeSet<(String, String)>) -> Vec<String> {
    let deployed: BTreeSet<(String, String)> =
        http_routes(declared).into_iter().map(|(m, p)| (m, crate::openapi::normalise(&p))).collect();
    let mut problems: Vec<String> = deployed
        .difference(documented)
        .map(|r| format!("route {}: no operation in openapi.yaml", route_name(r)))
        .collect();
    for route in documented.difference(&deployed) {
        problems.push(format!("openapi.yaml operation {}: template.yaml does not route it", route_name(route)));
    }
    problems
}

/// The README's `## Routes` table has a row for each route (HTTP and WebSocket) and names the
/// crate of each function that serves one.
pub fn check_readme(declared: &[Declared], readme: &str) -> Vec<String> {
    let section = readme.split("\n## Routes\n").nth(1).map(|rest| rest.split("\n## ").next().unwrap_or(rest));
    let Some(section) = section else { return vec!["README has no `## Routes` section".into()] };
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    let deployed = http_routes(declared);
    let mut problems = Vec::new();
    for route in &deployed {
        let cell = format!("| `{}` |", route_name(route));
        if !rows.iter().any(|row| row.starts_with(&cell)) {
            problems.push(format!("route {}: no row in the README's Routes table", route_name(route)));
        }
    }
    for d in declared.iter().filter(|d| d.serves_routes()) {
        if !rows.iter().any(|row| row.contains(&format!("`functions/{}`", d.krate))) {
            problems.push(format!("{}: the README's Routes table does not name `functions/{}`", d.at(), d.krate));
        }
        for key in &d.websocket {
            if !rows.iter().any(|row| row.starts_with(&format!("| WebSocket `{key}` |"))) {
                problems.push(format!("{}: no row for WebSocket `{key}` in the README's Routes table", d.at()));
            }
        }
    }
    for row in &rows {
        let first = row.trim_start_matches('|').split('|').next().unwrap_or_default().trim();
        let route = first.strip_prefix('`').and_then(|c| c.strip_suffix('`')).and_then(|c| c.split_once(" /"));
        let route = route.filter(|(m, _)| m.chars().all(|c| c.is_ascii_uppercase()));
        if let Some((method, path)) = route.filter(|(m, p)| !deployed.contains(&(m.to_string(), format!("/{p}")))) {
            problems
                .push(format!("the README's Routes table has {method} /{path}, which template.yaml does not route"));
        }
        for named in row.split("`functions/").skip(1).filter_map(|rest| rest.split('`').next()) {
            if !declared.iter().any(|d| d.krate == named) {
                problems.push(format!(
                    "the README's Routes table names functions/{named}, which no template function builds"
                ));
            }
        }
    }
    problems
}

#[track_caller]
fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} disagreement(s) with template.yaml:\n{}", problems.len(), problems.join("\n"));
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The folders under `dir` (relative to the root) that hold a file `inside` matches.
fn folders_with(dir: &str, inside: impl Fn(&std::path::Path) -> bool) -> BTreeSet<String> {
    let entries = std::fs::read_dir(root().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir() && inside(path))
        .map(|path| path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name").to_string())
        .collect()
}

#[test]
fn the_template_names_each_function_after_its_crate_and_gives_it_its_log_group() {
    assert!(declared().iter().filter(|d| d.serves_http()).count() >= 2, "template.yaml reads as too few functions");
    assert_none(check_names_and_log_groups(declared()));
}

#[test]
fn each_function_has_its_crate_fixtures_and_test_dependency() {
    let binaries = folders_with("functions", |dir| dir.join("src/main.rs").is_file());
    let crates: Vec<(String, String)> =
        binaries.into_iter().map(|dir| (dir.clone(), read(&format!("functions/{dir}/Cargo.toml")))).collect();
    let fixtures = folders_with("events", |dir| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|f| f.path().extension().is_some_and(|e| e == "json"))
    });
    let mut problems = check_crates(declared(), &crates);
    problems.extend(check_fixture_folders(declared(), &fixtures));
    problems.extend(check_test_dependencies(declared(), &read("tests/Cargo.toml")));
    assert_none(problems);
}

#[test]
fn the_tests_route_table_openapi_and_readme_list_the_templates_routes() {
    let listed: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    let spec = crate::openapi::spec();
    let documented: BTreeSet<(String, String)> =
        crate::openapi::operations(&spec).into_iter().map(|(m, p, _)| (m, crate::openapi::normalise(&p))).collect();
    let mut problems = check_function_list(declared(), &listed);
    problems.extend(check_route_table(declared(), chat_core::routes::ROUTES));
    problems.extend(check_openapi(declared(), &documented));
    problems.extend(check_readme(declared(), &read("README.md")));
    assert_none(problems);
}

/// Each check, fed a list with a gap, names it.
mod broken;
