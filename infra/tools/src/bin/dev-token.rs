//! Mints a short-lived HS256 token for the local stack (`AUTH_MODE=jwt`), signed with the
//! `JWT_HS256_SECRET` the stack generated. Usage: `dev-token <sub> [email]`.

use jsonwebtoken::{encode, EncodingKey, Header};
use std::process::ExitCode;
use tierflow::time::{Clock, SystemClock};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(sub) = args.next() else {
        eprintln!("usage: dev-token <sub> [email]");
        return ExitCode::from(2);
    };
    let email = args.next();
    let Ok(secret) = std::env::var("JWT_HS256_SECRET") else {
        eprintln!("JWT_HS256_SECRET must be set (source infra/.local/env)");
        return ExitCode::from(2);
    };
    let now = SystemClock.now();
    let mut claims = serde_json::json!({"sub": sub, "iat": now, "exp": now + 3600});
    if let Some(email) = email {
        claims["email"] = email.into();
    }
    if let Ok(iss) = std::env::var("JWT_ISSUER") {
        claims["iss"] = iss.into();
    }
    if let Ok(aud) = std::env::var("JWT_AUDIENCE") {
        claims["aud"] = aud.into();
    }
    match encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    ) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("could not sign the token: {e}");
            ExitCode::FAILURE
        }
    }
}
