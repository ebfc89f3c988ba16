//! Request parameters for the calls Tierflow makes, each encoded by one pure `form()` so the
//! exact wire format is unit-tested and feeds the idempotency key.

use super::form::Form;
use super::objects::Metadata;
use super::STRIPE_API_VERSION;

/// How Stripe accounts for a mid-period price change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProrationBehavior {
    /// Credit and charge the difference on the next invoice.
    CreateProrations,
    /// Invoice (and charge) the difference now: immediate upgrades.
    AlwaysInvoice,
    /// No proration: scheduled downgrades.
    None,
}

impl ProrationBehavior {
    /// Stripe's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProrationBehavior::CreateProrations => "create_prorations",
            ProrationBehavior::AlwaysInvoice => "always_invoice",
            ProrationBehavior::None => "none",
        }
    }
}

/// What Stripe does when the payment a subscription change needs does not succeed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentBehavior {
    AllowIncomplete,
    DefaultIncomplete,
    ErrorIfIncomplete,
    /// Keep the old price until the invoice is paid (`pending_update`): an upgrade is only
    /// applied once paid.
    PendingIfIncomplete,
}

impl PaymentBehavior {
    /// Stripe's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentBehavior::AllowIncomplete => "allow_incomplete",
            PaymentBehavior::DefaultIncomplete => "default_incomplete",
            PaymentBehavior::ErrorIfIncomplete => "error_if_incomplete",
            PaymentBehavior::PendingIfIncomplete => "pending_if_incomplete",
        }
    }
}

/// Expansions for a subscription change, so one answer says whether the invoice was paid and,
/// if not, which PaymentIntent needs 3-D Secure. Basil removed `invoice.payment_intent`; the
/// PaymentIntent is reached through the invoice's `payments`.
pub const SUBSCRIPTION_CHANGE_EXPAND: [&str; 1] = ["latest_invoice.payments"];

/// `POST /v1/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: Metadata,
}

impl NewCustomer {
    /// A customer for a Tierflow user, findable again by `metadata[user_id]`.
    pub fn for_user(user_id: &str, email: Option<&str>) -> Self {
        Self {
            email: email.map(str::to_owned),
            name: None,
            metadata: Metadata::from([("user_id".to_owned(), user_id.to_owned())]),
        }
    }

    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("email", self.email.as_deref())
            .opt("name", self.name.as_deref())
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/customers/{id}`: only the fields that are set change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: Metadata,
    /// Becomes `invoice_settings[default_payment_method]`.
    pub default_payment_method: Option<String>,
}

impl CustomerUpdate {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("email", self.email.as_deref())
            .opt("name", self.name.as_deref())
            .map("metadata", &self.metadata)
            .opt(
                "invoice_settings[default_payment_method]",
                self.default_payment_method.as_deref(),
            )
    }
}

/// What a Checkout session sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutMode {
    /// A subscription to a recurring price; `metadata` lands on the subscription.
    Subscription {
        price: String,
        quantity: u32,
        metadata: Metadata,
    },
    /// A one-time payment of an ad-hoc amount; `metadata` lands on the PaymentIntent, and
    /// `save_card` keeps the card for later off-session charges.
    Payment {
        amount: i64,
        currency: String,
        product_name: String,
        save_card: bool,
        metadata: Metadata,
    },
    /// Collects a card without charging it.
    Setup { currency: String },
}

/// `POST /v1/checkout/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub mode: CheckoutMode,
    pub customer: Option<String>,
    /// Prefills the email when there is no customer yet.
    pub customer_email: Option<String>,
    /// Tierflow puts the user id here, to find the user again on completion.
    pub client_reference_id: Option<String>,
    /// May contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in.
    pub success_url: String,
    pub cancel_url: String,
    pub metadata: Metadata,
}

impl NewCheckoutSession {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let form = match &self.mode {
            CheckoutMode::Subscription {
                price,
                quantity,
                metadata,
            } => Form::new()
                .field("mode", "subscription")
                .field("line_items[0][price]", price)
                .field("line_items[0][quantity]", *quantity)
                .map("subscription_data[metadata]", metadata),
            CheckoutMode::Payment {
                amount,
                currency,
                product_name,
                save_card,
                metadata,
            } => Form::new()
                .field("mode", "payment")
                .field("line_items[0][price_data][currency]", currency)
                .field("line_items[0][price_data][unit_amount]", *amount)
                .field(
                    "line_items[0][price_data][product_data][name]",
                    product_name,
                )
                .field("line_items[0][quantity]", 1u32)
                .opt(
                    "payment_intent_data[setup_future_usage]",
                    save_card.then_some("off_session"),
                )
                .map("payment_intent_data[metadata]", metadata),
            CheckoutMode::Setup { currency } => Form::new()
                .field("mode", "setup")
                .field("currency", currency),
        };
        form.opt("customer", self.customer.as_deref())
            .opt(
                "customer_email",
                self.customer_email
                    .as_deref()
                    .filter(|_| self.customer.is_none()),
            )
            .opt("client_reference_id", self.client_reference_id.as_deref())
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/billing_portal/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortalSession {
    pub customer: String,
    pub return_url: String,
    /// The portal configuration to open (Tierflow's own, so the portal keeps the catalog's rules).
    pub configuration: Option<String>,
}

impl NewPortalSession {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("customer", &self.customer)
            .field("return_url", &self.return_url)
            .opt("configuration", self.configuration.as_deref())
    }
}

/// `POST /v1/billing_portal/configurations[/{id}]`: what the Customer Portal lets a customer
/// do. Plan switches are limited to `products`; a switch that lowers the price waits for the
/// period end; cancellation waits for the period end; cards can be updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalConfigurationParams {
    /// `(product id, price ids)` a subscription may switch between.
    pub products: Vec<(String, Vec<String>)>,
    /// How an immediate switch (one that raises the price) is prorated.
    pub proration_behavior: ProrationBehavior,
    pub metadata: Metadata,
}

impl PortalConfigurationParams {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let update = "features[subscription_update]";
        let mut form = Form::new()
            .field("features[customer_update][enabled]", false)
            .field("features[invoice_history][enabled]", true)
            .field("features[payment_method_update][enabled]", true)
            .field("features[subscription_cancel][enabled]", true)
            .field("features[subscription_cancel][mode]", "at_period_end")
            .field("features[subscription_cancel][proration_behavior]", "none")
            .field(format!("{update}[enabled]"), true)
            .list(&format!("{update}[default_allowed_updates]"), ["price"])
            .field(
                format!("{update}[proration_behavior]"),
                self.proration_behavior.as_str(),
            )
            .field(
                format!("{update}[schedule_at_period_end][conditions][0][type]"),
                "decreasing_item_amount",
            );
        for (i, (product, prices)) in self.products.iter().enumerate() {
            form = form.field(format!("{update}[products][{i}][product]"), product);
            form = form.list(&format!("{update}[products][{i}][prices]"), prices);
        }
        form.map("metadata", &self.metadata)
    }
}

/// `POST /v1/subscriptions/{id}` moving its one item to another price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionPriceChange {
    /// The subscription item (`si_...`) being repriced.
    pub item_id: String,
    pub price: String,
    pub proration_behavior: ProrationBehavior,
    /// The instant the proration is computed for: pass the preview's, so the charge matches
    /// the amount the user was shown to the cent.
    pub proration_date: Option<i64>,
    pub payment_behavior: Option<PaymentBehavior>,
    pub metadata: Metadata,
}

impl SubscriptionPriceChange {
    /// The encoded parameters, with [`SUBSCRIPTION_CHANGE_EXPAND`].
    pub fn form(&self) -> Form {
        Form::new()
            .field("items[0][id]", &self.item_id)
            .field("items[0][price]", &self.price)
            .field("proration_behavior", self.proration_behavior.as_str())
            .opt("proration_date", self.proration_date)
            .opt(
                "payment_behavior",
                self.payment_behavior.map(PaymentBehavior::as_str),
            )
            .map("metadata", &self.metadata)
            .list("expand", SUBSCRIPTION_CHANGE_EXPAND)
    }
}

/// `POST /v1/invoices/create_preview` for a price change of a subscription's one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChangePreview {
    pub customer: Option<String>,
    pub subscription: String,
    pub item_id: String,
    pub price: String,
    /// Keep it and pass it to the change itself so both compute the same proration.
    pub proration_date: i64,
    pub proration_behavior: ProrationBehavior,
}

impl PriceChangePreview {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("customer", self.customer.as_deref())
            .field("subscription", &self.subscription)
            .field("subscription_details[items][0][id]", &self.item_id)
            .field("subscription_details[items][0][price]", &self.price)
            .field("subscription_details[proration_date]", self.proration_date)
            .field(
                "subscription_details[proration_behavior]",
                self.proration_behavior.as_str(),
            )
    }
}

/// `POST /v1/subscription_schedules/{id}` turning a schedule made `from_subscription` into
/// "current price until `change_at`, then `new_price`", released afterwards, no proration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledPriceChange {
    pub current_price: String,
    /// The current phase's `start_date` (Stripe refuses to move it).
    pub phase_start: i64,
    /// When the new price takes over: the current period's end.
    pub change_at: i64,
    pub new_price: String,
    pub quantity: u32,
    pub metadata: Metadata,
}

impl ScheduledPriceChange {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        let current = Form::new()
            .field("items[0][price]", &self.current_price)
            .field("items[0][quantity]", self.quantity)
            .field("start_date", self.phase_start)
            .field("end_date", self.change_at)
            .field("proration_behavior", "none");
        // The last phase has no end: it lasts one period, then the schedule releases the
        // subscription, which keeps renewing at the new price.
        let next = Form::new()
            .field("items[0][price]", &self.new_price)
            .field("items[0][quantity]", self.quantity)
            .field("proration_behavior", "none");
        Form::new()
            .field("end_behavior", "release")
            .field("proration_behavior", "none")
            .nest("phases[0]", current)
            .nest("phases[1]", next)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/payment_intents` for a one-time payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentIntent {
    pub amount: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
}

impl NewPaymentIntent {
    /// The encoded parameters; payment methods come from the Dashboard settings.
    pub fn form(&self) -> Form {
        Form::new()
            .field("amount", self.amount)
            .field("currency", &self.currency)
            .opt("customer", self.customer.as_deref())
            .opt("description", self.description.as_deref())
            .map("metadata", &self.metadata)
            .field("automatic_payment_methods[enabled]", true)
    }
}

/// `POST /v1/refunds`: of a PaymentIntent or a charge, in full unless `amount` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRefund {
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    pub reason: Option<String>,
    pub metadata: Metadata,
}

impl NewRefund {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("payment_intent", self.payment_intent.as_deref())
            .opt("charge", self.charge.as_deref())
            .opt("amount", self.amount)
            .opt("reason", self.reason.as_deref())
            .map("metadata", &self.metadata)
    }
}

/// `GET /v1/events`: which events to fetch, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events created strictly after this instant (`created[gt]`).
    pub created_after: Option<i64>,
    /// Only these types (`types[]`, at most 20); empty means all.
    pub types: Vec<String>,
    /// Events per page (1..=100).
    pub page_size: u32,
    /// Stop after this many events, so a long outage cannot exhaust the invocation.
    pub max_events: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            created_after: None,
            types: Vec::new(),
            page_size: 100,
            max_events: 10_000,
        }
    }
}

impl EventQuery {
    /// The query string of one page.
    pub fn form(&self, starting_after: Option<&str>) -> Form {
        Form::new()
            .field("limit", self.page_size.clamp(1, 100))
            .opt("created[gt]", self.created_after)
            .list("types", &self.types)
            .opt("starting_after", starting_after)
    }
}

/// `POST /v1/products`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProduct {
    /// A chosen id (`tierflow_starter`); Stripe generates one when absent.
    pub id: Option<String>,
    pub name: String,
    pub metadata: Metadata,
}

impl NewProduct {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("id", self.id.as_deref())
            .field("name", &self.name)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/products/{id}`: only the fields that are set change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductUpdate {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub metadata: Metadata,
}

impl ProductUpdate {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .opt("name", self.name.as_deref())
            .opt("active", self.active)
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/prices` for a recurring price.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPrice {
    pub product: String,
    pub unit_amount: i64,
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    pub lookup_key: Option<String>,
    /// Take the lookup key from the price that holds it.
    pub transfer_lookup_key: bool,
    pub nickname: Option<String>,
    pub metadata: Metadata,
}

impl NewPrice {
    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("product", &self.product)
            .field("unit_amount", self.unit_amount)
            .field("currency", &self.currency)
            .field("recurring[interval]", &self.interval)
            .opt("lookup_key", self.lookup_key.as_deref())
            .opt(
                "transfer_lookup_key",
                self.transfer_lookup_key.then_some(true),
            )
            .opt("nickname", self.nickname.as_deref())
            .map("metadata", &self.metadata)
    }
}

/// `POST /v1/webhook_endpoints`, pinned to Tierflow's API version so deliveries have the
/// shapes the client types expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub api_version: String,
}

impl NewWebhookEndpoint {
    /// An endpoint at `url` for `events`, on [`STRIPE_API_VERSION`].
    pub fn new(url: impl Into<String>, events: &[&str]) -> Self {
        Self {
            url: url.into(),
            enabled_events: events.iter().map(|e| (*e).to_owned()).collect(),
            description: None,
            api_version: STRIPE_API_VERSION.to_owned(),
        }
    }

    /// The encoded parameters.
    pub fn form(&self) -> Form {
        Form::new()
            .field("url", &self.url)
            .list("enabled_events", &self.enabled_events)
            .opt("description", self.description.as_deref())
            .field("api_version", &self.api_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn subscription_checkout_carries_price_reference_and_metadata() {
        let params = NewCheckoutSession {
            mode: CheckoutMode::Subscription {
                price: "price_pro_m".into(),
                quantity: 1,
                metadata: meta(&[("user_id", "u1")]),
            },
            customer: Some("cus_1".into()),
            customer_email: Some("ignored@example.com".into()),
            client_reference_id: Some("u1".into()),
            success_url: "https://app/ok?session_id={CHECKOUT_SESSION_ID}".into(),
            cancel_url: "https://app/cancel".into(),
            metadata: meta(&[("tier", "professional")]),
        };
        assert_eq!(
            params.form().encode(),
            "mode=subscription&line_items[0][price]=price_pro_m&line_items[0][quantity]=1\
             &subscription_data[metadata][user_id]=u1&customer=cus_1&client_reference_id=u1\
             &success_url=https%3A%2F%2Fapp%2Fok%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D\
             &cancel_url=https%3A%2F%2Fapp%2Fcancel&metadata[tier]=professional"
        );
    }

    #[test]
    fn payment_checkout_uses_inline_price_data() {
        let params = NewCheckoutSession {
            mode: CheckoutMode::Payment {
                amount: 2500,
                currency: "usd".into(),
                product_name: "Credits".into(),
                save_card: true,
                metadata: Metadata::new(),
            },
            customer: None,
            customer_email: Some("a@b.c".into()),
            client_reference_id: None,
            success_url: "s".into(),
            cancel_url: "c".into(),
            metadata: Metadata::new(),
        };
        assert_eq!(
            params.form().encode(),
            "mode=payment&line_items[0][price_data][currency]=usd\
             &line_items[0][price_data][unit_amount]=2500\
             &line_items[0][price_data][product_data][name]=Credits&line_items[0][quantity]=1\
             &payment_intent_data[setup_future_usage]=off_session&customer_email=a%40b.c\
             &success_url=s&cancel_url=c"
        );
    }

    #[test]
    fn upgrade_prorates_now_and_waits_for_payment() {
        let params = SubscriptionPriceChange {
            item_id: "si_1".into(),
            price: "price_ent_m".into(),
            proration_behavior: ProrationBehavior::AlwaysInvoice,
            proration_date: Some(1_700_000_000),
            payment_behavior: Some(PaymentBehavior::PendingIfIncomplete),
            metadata: Metadata::new(),
        };
        assert_eq!(
            params.form().encode(),
            "items[0][id]=si_1&items[0][price]=price_ent_m&proration_behavior=always_invoice\
             &proration_date=1700000000&payment_behavior=pending_if_incomplete\
             &expand[]=latest_invoice.payments"
        );
    }

    #[test]
    fn preview_names_the_item_price_and_proration_instant() {
        let params = PriceChangePreview {
            customer: Some("cus_1".into()),
            subscription: "sub_1".into(),
            item_id: "si_1".into(),
            price: "price_2".into(),
            proration_date: 1_700_000_123,
            proration_behavior: ProrationBehavior::AlwaysInvoice,
        };
        assert_eq!(
            params.form().encode(),
            "customer=cus_1&subscription=sub_1&subscription_details[items][0][id]=si_1\
             &subscription_details[items][0][price]=price_2\
             &subscription_details[proration_date]=1700000123\
             &subscription_details[proration_behavior]=always_invoice"
        );
    }

    #[test]
    fn downgrade_schedule_has_two_phases_and_releases() {
        let params = ScheduledPriceChange {
            current_price: "price_pro_m".into(),
            phase_start: 100,
            change_at: 200,
            new_price: "price_starter_m".into(),
            quantity: 1,
            metadata: meta(&[("user_id", "u1")]),
        };
        assert_eq!(
            params.form().encode(),
            "end_behavior=release&proration_behavior=none\
             &phases[0][items][0][price]=price_pro_m&phases[0][items][0][quantity]=1\
             &phases[0][start_date]=100&phases[0][end_date]=200&phases[0][proration_behavior]=none\
             &phases[1][items][0][price]=price_starter_m&phases[1][items][0][quantity]=1\
             &phases[1][proration_behavior]=none&metadata[user_id]=u1"
        );
    }

    #[test]
    fn one_time_payment_enables_automatic_payment_methods() {
        let params = NewPaymentIntent {
            amount: 1234,
            currency: "eur".into(),
            customer: Some("cus_1".into()),
            description: Some("Extra seats".into()),
            metadata: meta(&[("user_id", "u1")]),
        };
        assert_eq!(
            params.form().encode(),
            "amount=1234&currency=eur&customer=cus_1&description=Extra+seats\
             &metadata[user_id]=u1&automatic_payment_methods[enabled]=true"
        );
    }

    #[test]
    fn event_pages_filter_by_time_and_type() {
        let query = EventQuery {
            created_after: Some(1_700_000_000),
            types: vec![
                "invoice.paid".into(),
                "customer.subscription.updated".into(),
            ],
            page_size: 500,
            ..EventQuery::default()
        };
        assert_eq!(
            query.form(Some("evt_9")).encode(),
            "limit=100&created[gt]=1700000000&types[]=invoice.paid\
             &types[]=customer.subscription.updated&starting_after=evt_9"
        );
        assert_eq!(EventQuery::default().form(None).encode(), "limit=100");
    }

    #[test]
    fn catalog_prices_can_take_over_a_lookup_key() {
        let params = NewPrice {
            product: "tierflow_starter".into(),
            unit_amount: 1900,
            currency: "usd".into(),
            interval: "month".into(),
            lookup_key: Some("tierflow_starter_monthly".into()),
            transfer_lookup_key: true,
            nickname: None,
            metadata: Metadata::new(),
        };
        assert_eq!(
            params.form().encode(),
            "product=tierflow_starter&unit_amount=1900&currency=usd&recurring[interval]=month\
             &lookup_key=tierflow_starter_monthly&transfer_lookup_key=true"
        );
    }

    #[test]
    fn small_forms_encode_as_documented() {
        assert_eq!(
            NewCustomer::for_user("u1", Some("a@b.c")).form().encode(),
            "email=a%40b.c&metadata[user_id]=u1"
        );
        let update = CustomerUpdate {
            default_payment_method: Some("pm_1".into()),
            ..CustomerUpdate::default()
        };
        assert_eq!(
            update.form().encode(),
            "invoice_settings[default_payment_method]=pm_1"
        );
        let portal = NewPortalSession {
            customer: "cus_1".into(),
            return_url: "https://app/billing".into(),
            configuration: Some("bpc_1".into()),
        };
        assert_eq!(
            portal.form().encode(),
            "customer=cus_1&return_url=https%3A%2F%2Fapp%2Fbilling&configuration=bpc_1"
        );
        let refund = NewRefund {
            payment_intent: Some("pi_1".into()),
            ..NewRefund::default()
        };
        assert_eq!(refund.form().encode(), "payment_intent=pi_1");
        let hook = NewWebhookEndpoint::new("http://127.0.0.1:9000/hook", &["invoice.paid"]);
        assert_eq!(
            hook.form().encode(),
            format!(
                "url=http%3A%2F%2F127.0.0.1%3A9000%2Fhook&enabled_events[]=invoice.paid&api_version={STRIPE_API_VERSION}"
            )
        );
        let product = ProductUpdate {
            active: Some(true),
            ..ProductUpdate::default()
        };
        assert_eq!(product.form().encode(), "active=true");
    }

    #[test]
    fn portal_configuration_limits_switches_to_the_catalog() {
        let config = PortalConfigurationParams {
            products: vec![(
                "tierflow_starter".into(),
                vec!["price_m".into(), "price_y".into()],
            )],
            proration_behavior: ProrationBehavior::AlwaysInvoice,
            metadata: Metadata::from([("tierflow_catalog".to_owned(), "portal".to_owned())]),
        };
        let encoded = config.form().encode();
        for wanted in [
            "features[subscription_cancel][mode]=at_period_end",
            "features[payment_method_update][enabled]=true",
            "features[subscription_update][proration_behavior]=always_invoice",
            "features[subscription_update][schedule_at_period_end][conditions][0][type]=decreasing_item_amount",
            "features[subscription_update][products][0][product]=tierflow_starter",
            "features[subscription_update][products][0][prices][]=price_m",
            "features[subscription_update][products][0][prices][]=price_y",
            "metadata[tierflow_catalog]=portal",
        ] {
            assert!(encoded.contains(wanted), "{wanted} in {encoded}");
        }
    }
}
