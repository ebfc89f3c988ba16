"""Holds recorded Stripe traffic (infra/stripe_recorder.py) to what the official Python SDK,
stripe==12.1.0 (pinned to 2025-04-30.basil), declares:

- requests: the endpoint exists; every parameter is one the endpoint's typed params
  (`InvoiceService.PayParams`, ...) declare, with an allowed value for `Literal` types; every
  required parameter is sent; every request carries `Stripe-Version: 2025-04-30.basil` and every
  POST of the product (`User-Agent: tierflow/...`) an `Idempotency-Key`;
- responses and webhook events: every field is one the resource class (`stripe.Invoice`, its
  nested classes, ...) declares, enum values are allowed ones, every field of a top-level object
  is present, an includable field (returned only on `expand[]`) only when expanded, and an
  expandable field is an object only when expanded.

Prints the count per kind of finding and the first findings of each, naming endpoint and field;
exits non-zero on any. Usage: python3 infra/stripe_conformance.py RECORDING.jsonl...
"""

import argparse
import ast
import collections
import functools
import json
import pathlib
import re
import sys
import types
import typing
import urllib.parse

import stripe
import typing_extensions
from stripe._expandable_field import ExpandableField
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._search_result_object import SearchResultObject
from stripe._stripe_object import StripeObject

SDK_VERSION = "12.1.0"
API_VERSION = "2025-04-30.basil"
SDK_DIR = pathlib.Path(stripe.__file__).parent

# Fields basil returns only when expanded ("This field is not included by default. To include it
# in the response, expand the <field> field."), per the API reference of each object.
INCLUDABLE = {
    "invoice": {"payments"},
    "charge": {"refunds"},
    "checkout.session": {"line_items"},
    "customer": {
        "cash_balance",
        "invoice_credit_balance",
        "sources",
        "subscriptions",
        "tax",
        "tax_ids",
    },
    "price": {"currency_options", "tiers"},
    "product": set(),
    "coupon": {"applies_to", "currency_options"},
}

# Declared fields a top-level object carries only in some states, per the API reference.
# (A polymorphic object carries the sub-hash of its own `type` only: see `type_hashes`.)
CONDITIONAL = {
    # Only a deleted object has `deleted` (always true).
    "*": {"deleted"},
    # Connect events only.
    "event": {"account", "context"},
    # Optional in Stripe's OpenAPI description (absent unless set), though the SDK declares them.
    "charge": {"authorization_code", "level3", "presentment_details", "radar_options", "transfer"},
    "checkout.session": {"presentment_details"},
    "dispute": {"network_reason_code"},
    "invoice": {"threshold_reason"},
    "payment_intent": {"presentment_details"},
    "payment_method": {"radar_options"},
    # Set only for failed, pending or action-needing refunds (and `description` only when given).
    "refund": {
        "description",
        "failure_balance_transaction",
        "failure_reason",
        "instructions_email",
        "next_action",
        "pending_reason",
        "presentment_details",
    },
}

FINDING_KINDS = (
    "unknown endpoint",
    "unknown parameter",
    "bad enum value",
    "bad parameter value",
    "missing required parameter",
    "missing Stripe-Version",
    "missing Idempotency-Key",
    "undeclared response field",
    "bad enum value in response",
    "includable field sent unexpanded",
    "expandable field expanded without expand[]",
    "missing default field",
)


# --- the SDK's types ---------------------------------------------------------------------------


@functools.cache
def namespace(module_name):
    """The module's globals plus the names it imports only for type checking."""
    module = sys.modules[module_name]
    ns = {
        "StripeObject": StripeObject,
        "ListObject": ListObject,
        "SearchResultObject": SearchResultObject,
        "ExpandableField": ExpandableField,
        **vars(typing),
        **vars(module),
    }
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            # The installed SDK's own import lines, run to resolve its type-only names.
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec"), ns)  # noqa: S102
    return ns


@functools.cache
def hints(cls):
    """{json field name: type} of a TypedDict or StripeObject class."""
    found = typing.get_type_hints(cls, globalns=namespace(cls.__module__))
    remap = getattr(cls, "_field_remappings", {}) or {}
    return {
        remap.get(k, k): v
        for k, v in found.items()
        if not k.startswith("_") and typing.get_origin(v) is not typing.ClassVar
    }


def is_typeddict(t):
    return isinstance(t, type) and typing_extensions.is_typeddict(t)


def is_stripe_object(t):
    return isinstance(t, type) and issubclass(t, StripeObject)


def union_args(t):
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return typing.get_args(t)
    return None


@functools.cache
def endpoints():
    """[(method, regex, template, params type, return type)] from the SDK's service classes."""
    found = []
    for path in sorted(SDK_DIR.rglob("_*_service.py")):
        if "v2" in path.relative_to(SDK_DIR).parts:
            continue
        module_name = "stripe." + ".".join(path.relative_to(SDK_DIR).with_suffix("").parts)
        module = __import__(module_name, fromlist=["_"])
        ns = namespace(module.__name__)
        for cls in ast.parse(path.read_text()).body:
            if not isinstance(cls, ast.ClassDef):
                continue
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                call = next(
                    (
                        n
                        for n in ast.walk(fn)
                        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "_request"
                    ),
                    None,
                )
                if call is None or len(call.args) < 2:
                    continue
                method = call.args[0].value.upper()
                target = call.args[1]
                if isinstance(target, ast.Call):
                    target = target.func.value
                template = target.value
                if not template.startswith("/v1/"):
                    continue
                params = next((a.annotation for a in fn.args.args if a.arg == "params"), None)
                found.append(
                    (
                        method,
                        re.compile(
                            "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
                        ),
                        template,
                        resolve(params, ns),
                        resolve(fn.returns, ns),
                    )
                )
    # Literal segments win over placeholders: /v1/invoices/create_preview before /v1/invoices/{id}.
    found.sort(key=lambda e: e[2].count("{"))
    return found


def resolve(annotation, ns):
    if annotation is None:
        return None
    value = eval(compile(ast.Expression(annotation), "<annotation>", "eval"), ns)
    while isinstance(value, str):
        value = eval(value, ns)
    args = union_args(value)
    if args:  # Optional["X.Params"] = None
        value = next(a for a in args if a is not type(None))
    return value


def endpoint_for(method, path):
    for m, regex, template, params, returns in endpoints():
        if m == method and regex.match(path):
            return template, params, returns
    return None


# --- form bodies ---------------------------------------------------------------------------------


def parse_form(text):
    """Stripe's bracket notation (`a[b][0][c]=v`, `a[]=v`) as nested dicts and lists."""
    root = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + re.findall(r"\[([^\]]*)\]", "[" + rest)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            child_default = [] if nxt == "" or (nxt is not None and nxt.isdigit()) else {}
            if isinstance(node, list):
                if part == "":
                    if last:
                        node.append(value)
                        break
                    node.append(child_default)
                    node = node[-1]
                    continue
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = child_default
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, child_default)
    return root


# --- checks --------------------------------------------------------------------------------------


class Findings:
    def __init__(self):
        self.by_kind = collections.defaultdict(collections.Counter)

    def add(self, kind, where, field):
        self.by_kind[kind][f"{where}: {field}"] += 1

    def total(self):
        return sum(sum(c.values()) for c in self.by_kind.values())


def check_param(value, t, where, field, findings):
    """Whether `value` (strings from a form) fits type `t`; records what does not."""
    errors = []
    if not param_fits(value, t, field, errors):
        for kind, name in errors or [("bad parameter value", field)]:
            findings.add(kind, where, name)


def param_fits(value, t, field, errors):
    if t is typing.Any or t is object:
        return True
    args = union_args(t)
    if args:
        attempts = []
        for a in args:
            e = []
            if param_fits(value, a, field, e):
                return True
            attempts.append(e)
        # Report the alternative of the value's own shape (a dict against the TypedDict, ...).
        shaped = [e for a, e in zip(args, attempts) if shape_matches(value, a)]
        errors.extend((shaped or attempts)[0] or [("bad parameter value", field)])
        return False
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        allowed = typing.get_args(t)
        if any(
            str(a).lower() == str(value).lower() if isinstance(a, bool) else a == value
            for a in allowed
        ):
            return True
        errors.append(
            ("bad enum value", f"{field}={value!r} (allowed: {', '.join(map(repr, allowed))})")
        )
        return False
    if is_typeddict(t):
        if not isinstance(value, dict):
            errors.append(("bad parameter value", f"{field} is not an object"))
            return False
        declared = hints(t)
        ok = True
        for key, item in value.items():
            name = f"{field}[{key}]" if field else key
            if key not in declared:
                errors.append(("unknown parameter", name))
                ok = False
            elif not param_fits(item, declared[key], name, errors):
                ok = False
        for key in sorted(t.__required_keys__):
            if key not in value:
                errors.append(("missing required parameter", f"{field}[{key}]" if field else key))
                ok = False
        return ok
    if origin in (list, list):
        (item_type,) = typing.get_args(t) or (typing.Any,)
        if isinstance(value, dict) and all(k.isdigit() for k in value):
            value = list(value.values())
        if not isinstance(value, list):
            errors.append(("bad parameter value", f"{field} is not a list"))
            return False
        return all(param_fits(v, item_type, f"{field}[{i}]", errors) for i, v in enumerate(value))
    if origin in (dict, dict):
        return isinstance(value, dict)
    scalar = {
        str: r"(?s).*",
        int: r"-?\d+",
        float: r"-?\d+(\.\d+)?",
        bool: r"true|false",
    }.get(t)
    if scalar is None:
        errors.append(("bad parameter value", f"{field}: no rule for {t}"))
        return False
    if isinstance(value, str) and re.fullmatch(scalar, value):
        return True
    errors.append(("bad parameter value", f"{field}={value!r} is not {t.__name__}"))
    return False


def shape_matches(value, t):
    if is_typeddict(t) or typing.get_origin(t) in (dict, dict):
        return isinstance(value, dict)
    if typing.get_origin(t) in (list, list):
        return isinstance(value, list)
    return isinstance(value, str)


def class_for(value, declared):
    """The StripeObject class to check a response object against."""
    if isinstance(value, dict) and isinstance(value.get("object"), str):
        by_object = OBJECT_CLASSES.get(value["object"])
        if by_object is not None and (
            declared is None or not is_stripe_object(declared) or declared is StripeObject
        ):
            return by_object
        if value["object"] == "list":
            return ListObject
        if value["object"] == "search_result":
            return SearchResultObject
    return declared if is_stripe_object(declared) else None


def check_response(value, t, where, path, expand, findings, top_level):
    """Checks a response value at dotted `path` against declared type `t`."""
    if t is typing.Any or t is None or value is None:
        return
    args = union_args(t)
    if args:
        concrete = [a for a in args if a is not type(None)]
        if str in concrete and isinstance(value, str):
            return
        objects = [a for a in concrete if a is not str]
        if str in concrete and objects and isinstance(value, dict) and path not in expand:
            findings.add("expandable field expanded without expand[]", where, path)
        literals = [a for a in concrete if typing.get_origin(a) is typing.Literal]
        if literals and not isinstance(value, (dict, list)):
            t = typing.Literal[tuple(v for lit in literals for v in typing.get_args(lit))]
        else:
            t = next(
                (a for a in objects if shape_of_response(value, a)),
                objects[0] if objects else concrete[0],
            )
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        if value not in typing.get_args(t):
            findings.add("bad enum value in response", where, f"{path}={value!r}")
        return
    if origin in (list, list):
        (item_type,) = typing.get_args(t) or (typing.Any,)
        for item in value if isinstance(value, list) else []:
            check_response(item, item_type, where, path, expand, findings, top_level)
        return
    if origin in (dict, dict):
        # An event's `data.object` is declared as a dict: check it as the object it names.
        if (
            path.endswith("data.object")
            and isinstance(value, dict)
            and value.get("object") in OBJECT_CLASSES
        ):
            check_response(
                value, OBJECT_CLASSES[value["object"]], where, path, expand, findings, True
            )
        return
    if origin is not None and issubclass(origin, (ListObject, SearchResultObject)):
        if not isinstance(value, dict):
            return
        (item_type,) = typing.get_args(t)
        item_type = resolve_forward(item_type, origin)
        for key in value:
            if key not in ("object", "data", "has_more", "url", "total_count", "next_page"):
                findings.add("undeclared response field", where, f"{path}.{key}".lstrip("."))
        for item in value.get("data") or []:
            check_response(item, item_type, where, path, expand, findings, True)
        return
    cls = class_for(value, t)
    if cls is None or not isinstance(value, dict):
        return
    if cls in (ListObject, SearchResultObject):
        check_response(value, cls[typing.Any], where, path, expand, findings, top_level)
        return
    declared = hints(cls)
    object_name = value.get("object") if top_level else None
    includable = INCLUDABLE.get(object_name, set())
    for key, item in value.items():
        field = f"{path}.{key}".lstrip(".")
        if key not in declared:
            findings.add("undeclared response field", where, f"{cls.__qualname__}.{key}")
            continue
        if key in includable and field not in expand:
            findings.add("includable field sent unexpanded", where, f"{cls.__qualname__}.{key}")
        check_response(item, declared[key], where, field, expand, findings, False)
    if object_name is not None and value.get("deleted") is not True:
        skip = includable | CONDITIONAL["*"] | CONDITIONAL.get(object_name, set())
        skip |= type_hashes(declared) - {value.get("type")}
        for key in declared:
            if key not in value and key not in skip:
                findings.add("missing default field", where, f"{cls.__qualname__}.{key}")


def type_hashes(declared):
    """The per-type sub-hashes of a polymorphic object: fields named after a `type` value."""
    kind = declared.get("type")
    values = typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else ()
    return {v for v in values if v in declared}


def resolve_forward(t, origin):
    if isinstance(t, typing.ForwardRef):
        return eval(
            t.__forward_arg__, {**vars(stripe), **{c.__name__: c for c in OBJECT_CLASSES.values()}}
        )
    return t


def shape_of_response(value, t):
    if isinstance(value, dict):
        return (
            is_stripe_object(t)
            or typing.get_origin(t) in (dict, dict)
            or (
                typing.get_origin(t) is not None
                and isinstance(typing.get_origin(t), type)
                and issubclass(typing.get_origin(t), StripeObject)
            )
        )
    if isinstance(value, list):
        return typing.get_origin(t) in (list, list)
    return not is_stripe_object(t)


def expand_paths(params, list_response):
    """The dotted paths `expand[]` asked for, as they appear in the response."""
    asked = params.get("expand") or []
    if isinstance(asked, dict):
        asked = list(asked.values())
    paths = set()
    for p in asked if isinstance(asked, list) else [asked]:
        parts = str(p).split(".")
        if list_response and parts[0] == "data":
            parts = parts[1:]
        for i in range(1, len(parts) + 1):
            paths.add(".".join(parts[:i]))
    return paths


def check_exchange(record, findings, counts):
    method, path = record["method"], record["path"]
    if path.startswith("/_emulator/"):
        return
    if record["kind"] == "webhook":
        counts["webhook deliveries"] += 1
        try:
            event = json.loads(record["body"])
        except ValueError:
            return
        where = f"webhook {event.get('type')}"
        check_response(event, stripe.Event, where, "", set(), findings, True)
        return
    counts["requests"] += 1
    endpoint = endpoint_for(method, path)
    if endpoint is None:
        findings.add("unknown endpoint", f"{method} {path}", "-")
        return
    template, params_type, returns = endpoint
    where = f"{method} {template}"
    counts[where] += 0
    counts["endpoints"] = len([k for k in counts if k.startswith(("GET ", "POST ", "DELETE "))])
    headers = record["headers"]
    if headers.get("stripe-version") != API_VERSION:
        findings.add("missing Stripe-Version", where, headers.get("stripe-version") or "none")
    product = headers.get("user-agent", "").startswith("tierflow/")
    if product and method == "POST" and not headers.get("idempotency-key"):
        findings.add("missing Idempotency-Key", where, "-")
    params = parse_form(record["body"] if method == "POST" else record["query"])
    if params_type is not None:
        check_param(params, params_type, where, "", findings)
    elif params:
        findings.add("unknown parameter", where, ", ".join(sorted(params)))
    if not 200 <= record["status"] < 300:
        return
    try:
        body = json.loads(record["response"])
    except ValueError:
        return
    list_response = isinstance(body, dict) and body.get("object") in ("list", "search_result")
    check_response(body, returns, where, "", expand_paths(params, list_response), findings, True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("recordings", nargs="+")
    parser.add_argument("--show", type=int, default=15, help="findings printed per kind")
    args = parser.parse_args()
    if stripe.VERSION != SDK_VERSION:
        sys.exit(f"stripe conformance: needs stripe=={SDK_VERSION}, found {stripe.VERSION}")
    findings, counts = Findings(), collections.Counter()
    for recording in args.recordings:
        for line in pathlib.Path(recording).read_text().splitlines():
            if line.strip():
                check_exchange(json.loads(line), findings, counts)
    print(
        f"stripe conformance (stripe=={SDK_VERSION}, {API_VERSION}): {counts['requests']} requests to "
        f"{counts['endpoints']} endpoints, {counts['webhook deliveries']} webhook deliveries"
    )
    for kind in FINDING_KINDS:
        found = findings.by_kind.get(kind, collections.Counter())
        print(f"  {kind}: {sum(found.values())}")
        for item, n in found.most_common(args.show):
            print(f"    - {item} (x{n})")
    if not counts["requests"]:
        sys.exit("stripe conformance: nothing was recorded")
    if findings.total():
        sys.exit(f"stripe conformance: {findings.total()} finding(s)")
    print("stripe conformance: every request and response conforms")


if __name__ == "__main__":
    main()
