"""Signed webhook deliveries (app/models/webhook.rb, app/services/webhooks/base_service.rb,
app/controllers/api/v1/webhooks_controller.rb)."""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Webhooks:
    """Webhooks queued, signed and delivered; the state is `organization.Lago`'s."""

    def public_key(self):
        # Base64.encode64: lines of 60 characters, each ending in a newline.
        encoded = base64.encodebytes(self.public_pem).decode()
        lines = encoded.replace("\n", "")
        return {
            "webhook": {
                "public_key": "".join(lines[i : i + 60] + "\n" for i in range(0, len(lines), 60))
            }
        }

    def enqueue_webhook(self, webhook_type, object_type, obj):
        if not self.args.webhook_url:
            return
        payload = {
            "webhook_type": webhook_type,
            "object_type": object_type,
            "organization_id": self.organization_id,
            object_type: obj,
        }
        self.pending_deliveries += 1
        # Sent after the request's transaction commits (SendWebhookJob.perform_after_commit).
        self.outbox.put(payload)

    def sign(self, body):
        if self.args.webhook_signature == "hmac":
            return base64.b64encode(
                hmac.new(self.hmac_key.encode(), body.encode(), hashlib.sha256).digest()
            ).decode()

        def b64url(raw):
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        header = b64url(json.dumps({"alg": "RS256"}, separators=(",", ":")).encode())
        claims = b64url(
            json.dumps({"data": body, "iss": self.api_url}, separators=(",", ":")).encode()
        )
        signing_input = f"{header}.{claims}".encode()
        signature = self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{b64url(signature)}"

    def deliver_forever(self):
        while True:
            payload = self.outbox.get()
            body = json.dumps(payload, separators=(",", ":"))
            unique_key = str(uuid.uuid4())
            record = {
                "webhook_type": payload["webhook_type"],
                "object_type": payload["object_type"],
                "unique_key": unique_key,
                "attempts": 0,
                "status": None,
                "payload": payload,
            }
            # SendHttpWebhookJob: a few attempts, then the webhook is marked failed.
            for attempt in range(self.args.webhook_attempts):
                record["attempts"] = attempt + 1
                request = urllib.request.Request(
                    self.args.webhook_url,
                    data=body.encode(),
                    method="POST",
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "Lago/emulator",
                        "X-Lago-Signature": self.sign(body),
                        "X-Lago-Signature-Algorithm": self.args.webhook_signature,
                        "X-Lago-Unique-Key": unique_key,
                    },
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        record["status"] = response.status
                except urllib.error.HTTPError as e:
                    record["status"] = e.code
                except (urllib.error.URLError, OSError):
                    record["status"] = 0
                if 200 <= record["status"] < 300:
                    break
                time.sleep(0.2 * (attempt + 1))
            with self.lock:
                self.deliveries.append(record)
                self.pending_deliveries -= 1
                self.delivery_done.notify_all()

    def webhooks(self, wait_idle):
        if wait_idle:
            deadline = time.monotonic() + 20
            while self.pending_deliveries and time.monotonic() < deadline:
                self.delivery_done.wait(timeout=0.5)
        return {"webhooks": list(self.deliveries), "pending": self.pending_deliveries}
