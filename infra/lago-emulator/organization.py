"""The emulated organization: its state, its API keys, and the faults tests inject."""

import base64
import queue
import threading
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from customers import Customers
from lago_api import Failure
from plans import Plans
from subscriptions import Subscriptions
from usage import Usage
from webhooks import Webhooks


class Lago(Customers, Plans, Subscriptions, Usage, Webhooks):
    """The organization's state, and every route's method (one module per family of lago-api
    services). Every method runs under `self.lock`."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.customers = {}
        self.metrics = {}
        self.plans = {}
        self.subscriptions = []
        self.events = {}
        self.invoices = []
        self.faults = []
        self.calls = []
        self.deliveries = []
        self.outbox = queue.Queue()
        self.pending_deliveries = 0
        self.delivery_done = threading.Condition(self.lock)
        self.organization_id = str(uuid.uuid4())
        self.hmac_key = args.hmac_key or base64.b64encode(uuid.uuid4().bytes).decode()
        if args.private_key:
            with open(args.private_key, "rb") as f:
                self.private_key = serialization.load_pem_private_key(f.read(), password=None)
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.keys = {args.api_key: None}
        for spec in args.restricted_key or []:
            key, _, grants = spec.partition("=")
            perms = {}
            for grant in filter(None, grants.split(",")):
                resource, _, modes = grant.partition(":")
                perms[resource] = set(modes.split("+")) if modes else set()
            self.keys[key] = perms
        for spec in args.plan or []:
            code, _, rest = spec.partition(":")
            amount, _, interval = rest.partition(":")
            self.create_plan(
                {
                    "name": code,
                    "code": code,
                    "amount_cents": int(amount or 0),
                    "amount_currency": args.currency,
                    "interval": interval or "monthly",
                }
            )

    # --- auth (app/controllers/api/base_controller.rb, app/models/api_key.rb) ---

    def authorize(self, header, resource, mode):
        token = header[7:].strip() if header and header.startswith("Bearer ") else None
        if not token or token not in self.keys:
            raise Failure.unauthorized()
        perms = self.keys[token]
        if perms is not None and mode not in perms.get(resource, set()):
            raise Failure.forbidden(f"{mode}_action_not_allowed_for_{resource}")

    def take_fault(self, method, path):
        """The status the next failure injected for this call answers (POST /_emulator/faults),
        or None."""
        for fault in self.faults:
            if fault["method"] == method and path.startswith(fault["path"]) and fault["count"] > 0:
                fault["count"] -= 1
                return fault["status"]
        return None
