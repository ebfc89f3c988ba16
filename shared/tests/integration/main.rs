//! Tierflow's integration tests, one test binary: pure tables over the corpus and the
//! decisions, the clients against scripted servers and the emulators, and the adapters against
//! the local AWS emulator (`support::local_aws`, which says loudly when it skips).

mod support;
mod sync_support;

mod aws_adapters;
mod customer_link_copy;
mod decide_table;
mod lago_sync;
mod lago_webhooks;
mod payments_history;
mod revocation_policy;
mod signature_vectors;
mod stripe_client;
mod stripe_corpus;
mod sync_clients;
mod sync_queue_failures;
mod sync_worker;
mod webhook_pipeline;
