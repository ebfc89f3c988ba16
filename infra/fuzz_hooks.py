"""Schemathesis hooks for infra/fuzz.py (loaded through SCHEMATHESIS_HOOKS).

API Gateway hands a function a body that is not UTF-8 base64-encoded, and the handlers refuse it
with a 400; `cargo lambda watch` cannot forward such a body at all and answers 500 itself, before
any function runs. Those cases test the local emulator, not Tierflow, so they are not sent.
"""

import schemathesis


@schemathesis.hook
def filter_case(context, case):
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
