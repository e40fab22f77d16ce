"""What a real deploy would trip on, checked on the CloudFormation that SAM makes of template.yaml
(samtranslator, the code `sam deploy` runs), since no AWS account is reachable from here.
Run with the SAM virtualenv's Python: `python infra/lib/template_checks.py template.yaml`.
Prints one line per check and exits non-zero on any failure (docs/deploy.md explains each)."""

import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


def translate(path):
    text = open(path).read()
    # `sam build` replaces the local CodeUri with the built artifact's S3 location.
    text = text.replace("    CodeUri: .\n", "    CodeUri: s3://bucket/key\n")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(yaml_parse(text), {}, NoManagedPolicies())["Resources"]


def statements(resources, function):
    """The role's statements; a conditional one (`!If [cond, statement, AWS::NoValue]`) counts."""
    role = resources[f"{function}Role"]["Properties"]
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            yield statement


def main(path):
    resources = translate(path)
    of_type = lambda kind: {k: v for k, v in resources.items() if v["Type"] == kind}
    functions = of_type("AWS::Lambda::Function")
    groups = of_type("AWS::Logs::LogGroup")
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    # 1. Logs: Lambda filters JSON lines by their level, and keeps START/REPORT at INFO.
    for name, fn in functions.items():
        logging = fn["Properties"].get("LoggingConfig", {})
        group = logging.get("LogGroup", {}).get("Ref")
        check(logging.get("LogFormat") == "JSON", f"{name}: JSON logs")
        check(logging.get("SystemLogLevel") == "INFO", f"{name}: SystemLogLevel INFO (START/REPORT lines kept)")
        check(group in groups, f"{name}: logs to a declared group (created before the function runs)")
        if group in groups:
            name_of_group = str(groups[group]["Properties"].get("LogGroupName"))
            check(name not in name_of_group, f"{group}: its name does not depend on {name}")
            check(groups[group].get("DeletionPolicy") == "Delete", f"{group}: explicit DeletionPolicy")

    # 2. HTTP API routes: no path may end in "/" (CreateRoute refuses it; SAM drops it silently).
    for name, api in of_type("AWS::ApiGatewayV2::Api").items():
        paths = api["Properties"].get("Body", {}).get("paths", {})
        slashed = [p for p in paths if p.endswith("/") and p != "/"]
        check(not slashed, f"{name}: no route path ends in / {slashed or ''}")

    # 3. Secrets: the JWT key is in no environment; only the functions that use it may read it.
    for name, fn in functions.items():
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        check("JWT_SECRET" not in variables, f"{name}: no JWT_SECRET in the environment")
        check("resolve:secretsmanager" not in str(variables), f"{name}: no secret resolved into the environment")
        reads = [s["Resource"] for s in statements(resources, name) if "secretsmanager:GetSecretValue" in str(s["Action"])]
        ids = [k for k in variables if k.endswith("_SECRET_ID")]
        check(len(reads) == len(ids), f"{name}: GetSecretValue once per secret it is given ({ids or 'none'})")
        if "JWT_SECRET_ID" in variables:
            check(variables["JWT_SECRET_ID"] in reads, f"{name}: GetSecretValue on its JWT_SECRET_ID secret")
        check("*" not in str(reads).replace("${AWS::", ""), f"{name}: no wildcard secret")
    for name, secret in of_type("AWS::SecretsManager::Secret").items():
        check(secret.get("DeletionPolicy") in ("Delete", "Retain"), f"{name}: explicit DeletionPolicy")

    # 4. The stream trigger: a destination for what is given up, a start that skips nothing.
    for name, mapping in of_type("AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        check("OnFailure" in props.get("DestinationConfig", {}), f"{name}: on-failure destination")
        check(props.get("StartingPosition") == "TRIM_HORIZON", f"{name}: StartingPosition TRIM_HORIZON")

    # 6. The WebSocket stage deploys its routes: it is created after them.
    for name, stage in of_type("AWS::ApiGatewayV2::Stage").items():
        api = stage["Properties"]["ApiId"]
        routes = {k for k, v in of_type("AWS::ApiGatewayV2::Route").items() if v["Properties"]["ApiId"] == api}
        depends = stage.get("DependsOn", [])
        depends = {depends} if isinstance(depends, str) else set(depends)
        check(routes <= depends, f"{name}: DependsOn every route {sorted(routes - depends) or ''}")

    template = yaml_parse(open(path).read())
    for parameter in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        check(template["Parameters"][parameter].get("MinValue", 0) >= 1, f"{parameter}: MinValue 1")

    print(f"{len(failures)} failed" if failures else "template checks: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
