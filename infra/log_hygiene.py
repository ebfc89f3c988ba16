"""Proves the logs of a run hold no secret: no configured secret value (read from the env file the
functions ran with), no card number, and no webhook body (a serialised Stripe event). Prints what
it checked, and every offending line's location (never the value itself); exits non-zero on any.

Usage: python3 infra/log_hygiene.py --env-file FILE [--env-file FILE...] LOG...
"""

import argparse
import pathlib
import re
import sys

# Configuration names whose values are secrets: keys, signing secrets, passwords, tokens.
SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|TOKEN|_API_KEY|HMAC_KEY|PRIVATE_KEY|CLIENT_SECRET)", re.IGNORECASE
)
# Values too short to be distinctive (e.g. the local AWS emulator's "testing") are reported, not matched.
MIN_SECRET_CHARS = 12

# Card numbers as they are written: 13 to 19 digits in a row, or grouped 4-4-4-4(-3) or 4-6-5 with
# one separator; then confirmed by issuer prefix (Visa, Mastercard, Amex, Diners, Discover, JCB)
# and the Luhn checksum. Digits inside ids (UUIDs, trace ids) are not cards.
CARD = re.compile(
    r"(?<![\w-])(?:\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?"
    r"|\d{4}([ -])\d{6}\2\d{5})(?![\w-])"
)
ISSUER = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6011|65|35)")

# Ids whose digits can look like a card (an X-Ray parent id is 16 hex digits, sometimes all of
# them decimal and Luhn-valid): the fields of an X-Ray trace header (`Root=1-…;Parent=…`) and
# any value keyed as a trace, span, parent or request id. They are blanked before the card scan,
# and only they are: a card number elsewhere in the same line is still found.
TRACE_HEADER_FIELD = re.compile(r"\b(?:Root|Parent|Self|Lineage)=[0-9A-Za-z:|-]+")
KEYED_ID = re.compile(
    r"(?i)\b\w*?(?:trace|span|parent|request)[_-]?id\\*\"?\s*[:=]\s*\\*\"?[0-9A-Za-z-]+"
)

# A serialised Stripe event, raw or escaped inside another JSON string: its `"object": "event"`
# next to its data. Event ids alone are fine to log; the body is not.
EVENT_BODY = re.compile(r'\\*"object\\*"\s*:\s*\\*"(?:event|v2\.core\.event)\\*"')

# A PaymentIntent's or SetupIntent's client secret confirms the payment: it goes to the payer only.
CLIENT_SECRET = re.compile(r"\b(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+")


def luhn(digits):
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def card_numbers(line):
    """The card numbers written in `line` (digits only), ignoring trace and request ids."""
    scanned = KEYED_ID.sub(" ", TRACE_HEADER_FIELD.sub(" ", line))
    found = []
    for match in CARD.finditer(scanned):
        digits = re.sub(r"\D", "", match.group())
        if ISSUER.match(digits) and luhn(digits):
            found.append(digits)
    return found


def secrets_from(env_file):
    """{name: [values]} of the secrets configured in `env_file` (comma lists split: rotation)."""
    found, short = {}, []
    for line in pathlib.Path(env_file).read_text().splitlines():
        name, sep, value = line.partition("=")
        if not sep or line.lstrip().startswith("#") or not SECRET_NAME.search(name):
            continue
        values = (
            [v.strip() for v in value.split(",") if v.strip()]
            if name.endswith("SECRETS")
            else [value.strip()]
        )
        for v in values:
            if len(v) >= MIN_SECRET_CHARS:
                found.setdefault(name, []).append(v)
            elif v:
                short.append(name)
    return found, short


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--env-file", required=True, action="append", help="repeatable: one per stack"
    )
    parser.add_argument("logs", nargs="+")
    args = parser.parse_args()

    secrets, short = {}, []
    for env_file in args.env_file:
        found, too_short = secrets_from(env_file)
        if not found:
            sys.exit(f"log hygiene: no secrets found in {env_file}; nothing would be checked")
        for name, values in found.items():
            secrets.setdefault(name, []).extend(values)
        short.extend(too_short)
    problems, lines = [], 0
    for path in args.logs:
        with open(path, errors="replace") as f:
            for number, line in enumerate(f, 1):
                lines += 1
                where = f"{path}:{number}"
                for name, values in secrets.items():
                    if any(v in line for v in values):
                        problems.append(f"{where}: the value of {name}")
                for digits in card_numbers(line):
                    problems.append(f"{where}: a card number ending {digits[-4:]}")
                if CLIENT_SECRET.search(line):
                    problems.append(f"{where}: a payment's client secret")
                if EVENT_BODY.search(line):
                    problems.append(f"{where}: a Stripe event body")

    names = ", ".join(sorted(secrets))
    print(
        f"log hygiene: {lines} lines in {len(args.logs)} log file(s) checked for the values of {names}, "
        f"card numbers, client secrets and Stripe event bodies"
    )
    if short:
        print(
            f"log hygiene: not matched (shorter than {MIN_SECRET_CHARS} characters): {', '.join(sorted(set(short)))}"
        )
    if problems:
        print(f"log hygiene: {len(problems)} leak(s):", file=sys.stderr)
        for p in problems[:50]:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    print("log hygiene: no leaks")


if __name__ == "__main__":
    main()
