//! Subscription billing: invoices, payment of invoices, updates with proration, renewals,
//! trials, discounts, Stripe Tax, cancellations, schedules, and processing everything due when the clock moves.

use serde_json::{Map, Value};

use crate::calendar::{add_interval, next_period_end};
use crate::dunning::FinalAction;
use crate::error::{ApiError, ApiResult};
use crate::objects::billing::{Invoice, InvoiceItem, Line, PendingUpdate, SubItem, Subscription};
use crate::objects::catalog::{Price, Recurring};
use crate::objects::payment::CardBehaviour;
use crate::payments::{self, Attempt};
use crate::proration;
use crate::store::Store;

mod changes;
mod checkout;
mod discounts;
mod invoices;
mod preview;
mod renewals;
mod subscriptions;
mod tax;
mod trials;

pub use changes::*;
pub use checkout::*;
pub use discounts::*;
pub use invoices::*;
pub use preview::*;
pub use renewals::*;
pub use subscriptions::*;
pub use tax::*;
pub use trials::*;
