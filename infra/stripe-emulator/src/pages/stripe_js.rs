//! A stand-in for Stripe.js (`/js/v3`) with the subset the billing page uses:
//! `Stripe(publishableKey).handleNextAction({clientSecret})` and `confirmCardPayment(clientSecret)`,
//! which show the emulator's 3-D Secure page in a modal frame and resolve with its outcome.

/// The script.
pub(super) const SCRIPT: &str = r#"(function () {
  "use strict";
  var script = document.currentScript;
  var origin = new URL(script ? script.src : location.href).origin;

  function authenticate(clientSecret) {
    var id = String(clientSecret || "").split("_secret_")[0];
    return new Promise(function (resolve) {
      if (!/^pi_[A-Za-z0-9]+$/.test(id)) {
        resolve({ error: { type: "invalid_request_error", message: "Invalid client secret." } });
        return;
      }
      var overlay = document.createElement("div");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", "3-D Secure");
      overlay.style.cssText = "position:fixed;inset:0;background:rgba(26,31,54,.55);display:flex;align-items:center;justify-content:center;z-index:2147483647";
      var frame = document.createElement("iframe");
      frame.title = "3-D Secure authentication";
      frame.name = "stripe-emulator-3ds";
      frame.src = origin + "/_emulator/3ds/" + encodeURIComponent(id);
      frame.style.cssText = "width:min(30rem,94vw);height:min(26rem,90vh);border:0;border-radius:12px;background:#fff";
      overlay.appendChild(frame);
      function done(event) {
        var data = event.data || {};
        if (event.origin !== origin || data.type !== "tierflow-emulator-3ds" || data.payment_intent !== id) return;
        window.removeEventListener("message", done);
        overlay.remove();
        var paymentIntent = { id: id, object: "payment_intent", status: data.status };
        if (data.status === "succeeded" || data.status === "processing") resolve({ paymentIntent: paymentIntent });
        else resolve({
          error: {
            type: "card_error",
            code: "payment_intent_authentication_failure",
            message: "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
            payment_intent: paymentIntent
          }
        });
      }
      window.addEventListener("message", done);
      document.body.appendChild(overlay);
      frame.focus();
    });
  }

  window.Stripe = function (publishableKey) {
    if (!/^pk_(test|live)_/.test(String(publishableKey))) throw new Error("Invalid publishable key: " + publishableKey);
    return {
      handleNextAction: function (options) { return authenticate(options && options.clientSecret); },
      confirmCardPayment: function (clientSecret) { return authenticate(clientSecret); }
    };
  };
})();
"#;
