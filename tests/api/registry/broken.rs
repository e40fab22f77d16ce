//! Each check of `registry.rs`, fed a list with a gap, names exactly that gap.

use super::*;

/// The template with one more HTTP function, `widgets-get` on `GET /api/widgets/{widget_id}`
/// (no crate, fixtures, test, route table entry, operation or README row).
fn with_widgets() -> Vec<Declared> {
    let mut declared = declared().to_vec();
    declared.push(Declared {
        logical_id: "WidgetsGetFunction".into(),
        krate: "widgets-get".into(),
        routes: vec![("GET".into(), "/api/widgets/{widget_id}".into())],
        fallback: false,
        websocket: Vec::new(),
        log_group: Some(("WidgetsGetLogs".into(), Some("/aws/lambda/${AWS::StackName}/widgets-get".into()))),
    });
    declared
}

const WIDGETS: &str = "template function WidgetsGetFunction (crate widgets-get)";

#[test]
fn names_and_log_groups() {
    let mut declared = declared().to_vec();
    let users_get = declared.iter_mut().find(|d| d.krate == "users-get").expect("users-get");
    users_get.logical_id = "UsersFetchFunction".into();
    users_get.log_group = Some(("UsersListLogs".into(), Some("/aws/lambda/${AWS::StackName}/users-list".into())));
    let at = "template function UsersFetchFunction (crate users-get)";
    assert_eq!(
        check_names_and_log_groups(&declared),
        [
            format!("{at}: the logical id should be UsersGetFunction"),
            format!("{at}: its log group should be UsersGetLogs, not UsersListLogs"),
            format!("{at}: UsersListLogs is no AWS::Logs::LogGroup named …/users-get"),
        ]
    );
    declared.retain(|d| d.krate == "users-get");
    declared[0].log_group = None;
    assert!(check_names_and_log_groups(&declared)[1].ends_with(": LoggingConfig.LogGroup is no !Ref to its log group"));
}

#[test]
fn the_template_reading_finds_a_missing_log_group() {
    let text = read("template.yaml").replacen("        LogGroup: !Ref UsersGetLogs\n", "", 1);
    let problems = check_names_and_log_groups(&from_template(&text));
    assert_eq!(
        problems,
        ["template function UsersGetFunction (crate users-get): LoggingConfig.LogGroup is no !Ref to its log group"]
    );
}

#[test]
fn crates() {
    let crates: Vec<(String, String)> = declared()
        .iter()
        .map(|d| (d.krate.clone(), format!("[package]\nname = \"{}\"\n", d.krate)))
        .chain([("gizmo".to_string(), "name = \"gizmo\"".to_string())])
        .collect();
    assert_eq!(
        check_crates(&with_widgets(), &crates),
        [
            format!("{WIDGETS}: no crate functions/widgets-get/"),
            "functions/gizmo/ has a binary, but no template function builds it".to_string(),
        ]
    );
    let mut renamed = crates.clone();
    renamed[0].1 = "name = \"other\"".into();
    let first = &declared()[0];
    assert_eq!(
        check_crates(declared(), &renamed[..crates.len() - 1]),
        [format!("{}: functions/{}/Cargo.toml names no `{}`", first.at(), first.krate, first.krate)]
    );
}

#[test]
fn fixture_folders() {
    let mut folders: BTreeSet<String> = declared().iter().map(|d| d.krate.clone()).collect();
    folders.insert("gizmo".into());
    assert_eq!(
        check_fixture_folders(&with_widgets(), &folders),
        [
            format!("{WIDGETS}: no events/widgets-get/ fixtures"),
            "events/gizmo/: no template function has the crate gizmo".into()
        ]
    );
}

#[test]
fn test_dependencies() {
    let manifest = read("tests/Cargo.toml") + "gizmo = { path = \"../functions/gizmo\" }\n";
    assert_eq!(
        check_test_dependencies(&with_widgets(), &manifest),
        [
            format!(
                "{WIDGETS}: no `widgets-get = {{ path = \"../functions/widgets-get\" }}` dependency in tests/Cargo.toml"
            ),
            "tests/Cargo.toml depends on functions/gizmo, which no template function builds".into(),
        ]
    );
}

#[test]
fn function_list() {
    let mut listed: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    listed.push("ws-default");
    assert_eq!(
        check_function_list(&with_widgets(), &listed),
        [
            format!(
                "{WIDGETS}: serves the HTTP API, but tests/src/lib.rs's functions! list has no `WidgetsGet => widgets_get`"
            ),
            "chat_tests::Function lists ws-default, which serves no HttpApi route of template.yaml".into(),
        ]
    );
}

#[test]
fn route_table() {
    let table = [chat_core::routes::ROUTES, &[("GET", "/api/gizmos/")]].concat();
    assert_eq!(
        check_route_table(&with_widgets(), &table),
        [
            "chat_core::routes::ROUTES lacks GET /api/widgets/{widget_id}",
            "chat_core::routes::ROUTES has GET /api/gizmos/, which template.yaml does not route",
            "chat_core::routes::ROUTES has GET /api/gizmos/, ending in /",
        ]
    );
}

#[test]
fn openapi() {
    let mut documented: BTreeSet<(String, String)> = http_routes(declared());
    documented.insert(("DELETE".into(), "/api/messages".into()));
    assert_eq!(
        check_openapi(&with_widgets(), &documented),
        [
            "route GET /api/widgets/{widget_id}: no operation in openapi.yaml",
            "openapi.yaml operation DELETE /api/messages: template.yaml does not route it",
        ]
    );
}

#[test]
fn readme() {
    let readme = read("README.md")
        .replacen("|\n| anything else |", "|\n| `GET /x` | `functions/gizmo` | |\n| anything else |", 1)
        .replacen("| WebSocket `$disconnect` |", "| WebSocket disconnect |", 1);
    assert_eq!(
        check_readme(&with_widgets(), &readme),
        [
            "route GET /api/widgets/{widget_id}: no row in the README's Routes table".into(),
            "template function WsDisconnectFunction (crate ws-disconnect): no row for WebSocket `$disconnect` in the README's Routes table".to_string(),
            format!("{WIDGETS}: the README's Routes table does not name `functions/widgets-get`"),
            "the README's Routes table has GET /x, which template.yaml does not route".into(),
            "the README's Routes table names functions/gizmo, which no template function builds".into(),
        ]
    );
    assert_eq!(check_readme(declared(), "# A README\n"), ["README has no `## Routes` section"]);
}

#[test]
fn the_template_reading_finds_every_kind_of_route() {
    let of = |krate: &str| declared().iter().find(|d| d.krate == krate).unwrap_or_else(|| panic!("{krate}"));
    assert_eq!(of("users-get").routes, [("GET".to_string(), "/api/users/{user_id}".to_string())]);
    assert!(of("route-fallback").fallback && of("route-fallback").routes.is_empty());
    assert_eq!(of("ws-connect").websocket, ["$connect"]);
    assert!(!of("ai-reply").serves_routes(), "the stream trigger serves no route");
}
