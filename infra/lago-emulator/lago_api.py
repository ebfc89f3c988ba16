"""What Lago's API documents: the request fields of each object, the values it accepts, and its
error envelope."""

# Request fields Lago documents, per object (the client models of lago-python-client).
CUSTOMER_FIELDS = {
    "external_id",
    "name",
    "email",
    "currency",
    "firstname",
    "lastname",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "country",
    "timezone",
    "legal_name",
    "legal_number",
    "url",
    "billing_configuration",
    "metadata",
}
BILLING_CONFIGURATION_FIELDS = {
    "payment_provider",
    "payment_provider_code",
    "provider_customer_id",
    "sync",
    "sync_with_provider",
    "document_locale",
    "invoice_grace_period",
    "provider_payment_methods",
}
SUBSCRIPTION_FIELDS = {
    "external_customer_id",
    "plan_code",
    "external_id",
    "name",
    "subscription_at",
    "billing_time",
    "ending_at",
}
PLAN_FIELDS = {
    "name",
    "code",
    "interval",
    "description",
    "amount_cents",
    "amount_currency",
    "pay_in_advance",
    "charges",
    "invoice_display_name",
}
CHARGE_FIELDS = {"billable_metric_id", "charge_model", "properties", "invoice_display_name"}
METRIC_FIELDS = {"name", "code", "aggregation_type", "field_name", "description"}
EVENT_FIELDS = {
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
}
CURRENCIES = {"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK", "PLN"}
INTERVALS = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}
PAYMENT_PROVIDERS = {"stripe", "gocardless", "adyen", "cashfree", "moneyhash", "flutterwave"}


class Failure(Exception):
    """An answer in Lago's error envelope (app/controllers/concerns/api_errors.rb)."""

    def __init__(self, status, body):
        super().__init__(body)
        self.status = status
        self.body = body

    @classmethod
    def bad_request(cls, message):
        return cls(400, {"status": 400, "error": f"BadRequest: {message}"})

    @classmethod
    def unauthorized(cls):
        return cls(401, {"status": 401, "error": "Unauthorized"})

    @classmethod
    def forbidden(cls, code):
        return cls(403, {"status": 403, "error": "Forbidden", "code": code})

    @classmethod
    def not_found(cls, resource):
        return cls(404, {"status": 404, "error": "Not Found", "code": f"{resource}_not_found"})

    @classmethod
    def validation(cls, errors):
        return cls(
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": errors,
            },
        )

    @classmethod
    def third_party(cls, third_party, message):
        return cls(
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "third_party_error",
                "error_details": {"third_party": third_party, "thirdparty_error": message},
            },
        )


def require_root(body, root, allowed):
    """`params.require(root)`, with undocumented fields refused (see the module doc)."""
    obj = body.get(root) if isinstance(body, dict) else None
    if not isinstance(obj, dict) or not obj:
        raise Failure.bad_request(f"param is missing or the value is empty: {root}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise Failure.bad_request(f"unknown field(s) in {root}: {', '.join(unknown)}")
    return obj
