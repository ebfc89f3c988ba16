"""Holds openapi.yaml to what is deployed: every HTTP route in template.yaml is documented with
the same method and function, every documented route is deployed and served locally by the
`cargo lambda watch` router in Cargo.toml, authentication matches, and every operation documents
the error envelope for each failure the edge can answer. Also checks that every secret a function
is configured with comes from Secrets Manager or SSM, never a literal in the repository. Exits
non-zero with every mismatch.

Usage: python3 infra/contract.py [--root DIR]
"""

import argparse
import pathlib
import re
import sys
import tomllib

import yaml
from openapi_spec_validator import validate

from cfn_template import load_template

METHODS = ("get", "put", "post", "delete", "patch")
# Environment variables holding credentials (publishable keys are public by design).
SECRET_ENV = re.compile(r"(SECRET|PASSWORD|API_KEY|HMAC_KEY|PRIVATE_KEY|TOKEN)")
SECRET_SOURCES = ("{{resolve:secretsmanager:", "{{resolve:ssm-secure:")


def deployed_routes(template):
    """(METHOD, path) -> (function, public) for every HttpApi event; and the function-URL functions."""
    routes, url_functions = {}, set()
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        function = pathlib.PurePosixPath(str(props.get("CodeUri", ""))).name
        if "FunctionUrlConfig" in props:
            url_functions.add(function)
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            ev = event.get("Properties") or {}
            key = (str(ev.get("Method", "")).upper(), str(ev.get("Path", "")))
            public = (ev.get("Auth") or {}).get("Authorizer") == "NONE"
            if key in routes:
                raise SystemExit(f"template.yaml routes {key} twice ({name})")
            routes[key] = (function, public)
    return routes, url_functions


def literal_secrets(template):
    """Function environment variables with a credential's name whose value is not a reference."""
    found = []

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)

    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        env = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for var, value in env.items():
            if not SECRET_ENV.search(var):
                continue
            # A condition (!If) names its condition first; only the values are checked.
            if isinstance(value, dict) and "If" in value:
                value = value["If"][1:]
            values = list(strings(value))
            if any(v and not any(src in v for src in SECRET_SOURCES) for v in values):
                found.append(
                    f"{name}: {var} is not a Secrets Manager or SSM SecureString reference"
                )
    return found


def router_routes(cargo):
    """(METHOD, path) -> function from [workspace.metadata.lambda.watch.router]."""
    router = (
        cargo.get("workspace", {})
        .get("metadata", {})
        .get("lambda", {})
        .get("watch", {})
        .get("router", {})
    )
    routes = {}
    for path, targets in router.items():
        for target in targets:
            routes[(target["method"].upper(), path)] = target["function"]
    return routes


def documented_routes(doc):
    """(METHOD, path) -> operation for every operation under `paths`."""
    ops = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            if method in item:
                ops[(method.upper(), path)] = item[method]
    return ops


def resolve(doc, node):
    """Follows local `$ref`s to what they name."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise SystemExit(f"openapi.yaml: only local references are supported, not {ref}")
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def check_operation(doc, key, op, public, problems):
    """The edge's failures each have a documented JSON answer."""
    where = f"{key[0]} {key[1]}"
    responses = op.get("responses") or {}
    if not any(code.startswith("2") for code in responses):
        problems.append(f"{where}: no success response")
    required = {"503"}
    if public:
        if op.get("security") != []:
            problems.append(
                f"{where}: deployed without an authorizer but documented with security {op.get('security')}"
            )
    else:
        required.add("401")
        if op.get("security") not in (None, [{"bearerAuth": []}]):
            problems.append(
                f"{where}: documented with security {op.get('security')}, deployed behind the JWT authorizer"
            )
    if "requestBody" in op:
        required |= {"400", "413", "415"}
    for param in op.get("parameters") or []:
        if resolve(doc, param).get("in") == "query":
            required.add("400")
    if public and "requestBody" not in op and not op.get("parameters"):
        required.discard("503")  # built from configuration alone: nothing to be unavailable
    for code in sorted(required - set(responses)):
        problems.append(f"{where}: response {code} is not documented")
    for code, response in responses.items():
        response = resolve(doc, response)
        content = response.get("content") or {}
        schema = content.get("application/json", {}).get("schema")
        if schema is None and code.startswith("2"):
            # A page and its assets answer HTML, JavaScript or CSS; errors are always JSON.
            schema = next(
                (media.get("schema") for media in content.values() if "schema" in media), None
            )
        if schema is None:
            problems.append(f"{where}: response {code} has no application/json schema")
        elif (
            not code.startswith("2")
            and resolve(doc, schema) is not doc["components"]["schemas"]["Error"]
        ):
            problems.append(f"{where}: error response {code} is not the error envelope")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--root", default=pathlib.Path(__file__).resolve().parent.parent, type=pathlib.Path
    )
    root = parser.parse_args().root

    doc = yaml.safe_load((root / "openapi.yaml").read_text())
    validate(doc)  # a valid OpenAPI 3.1 document first
    template = load_template(root / "template.yaml")
    cargo = tomllib.loads((root / "Cargo.toml").read_text())

    deployed, url_functions = deployed_routes(template)
    served = router_routes(cargo)
    documented = documented_routes(doc)
    problems = []

    for key in sorted(deployed.keys() - documented.keys()):
        problems.append(f"{key[0]} {key[1]} is deployed by template.yaml but not in openapi.yaml")
    for key in sorted(documented.keys() - deployed.keys()):
        problems.append(
            f"{key[0]} {key[1]} is in openapi.yaml but template.yaml does not deploy it"
        )
    for key in sorted(documented.keys() - served.keys()):
        problems.append(
            f"{key[0]} {key[1]} is in openapi.yaml but not in the Cargo.toml watch router"
        )
    for key in sorted(served.keys() - documented.keys()):
        problems.append(
            f"{key[0]} {key[1]} is served by the Cargo.toml watch router but not in openapi.yaml"
        )

    for key, op in sorted(documented.items()):
        function = op.get("x-tierflow-function")
        if key in deployed and function != deployed[key][0]:
            problems.append(
                f"{key[0]} {key[1]}: documented as {function}, deployed as {deployed[key][0]}"
            )
        if key in served and function != served[key]:
            problems.append(f"{key[0]} {key[1]}: documented as {function}, served by {served[key]}")
        if not (root / "functions" / str(function) / "Cargo.toml").is_file():
            problems.append(f"{key[0]} {key[1]}: functions/{function} does not exist")
        if key in deployed:
            check_operation(doc, key, op, deployed[key][1], problems)

    for name, item in (doc.get("webhooks") or {}).items():
        for method in METHODS:
            if method in item:
                function = item[method].get("x-tierflow-function")
                if function not in url_functions:
                    problems.append(
                        f"webhook {name}: {function} has no function URL in template.yaml"
                    )

    problems += literal_secrets(template)

    if problems:
        print("contract: openapi.yaml, template.yaml and Cargo.toml disagree:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    print(
        f"contract: openapi.yaml is valid OpenAPI {doc['openapi']}; its {len(documented)} operations are "
        f"exactly the {len(deployed)} HttpApi routes of template.yaml and the {len(served)} routes of the "
        f"Cargo.toml router (same methods, functions and auth); "
        f"{len(doc.get('webhooks') or {})} webhook(s) on function URLs; every configured secret in "
        f"template.yaml is a Secrets Manager or SSM reference"
    )


if __name__ == "__main__":
    main()
