//! Hosted invoices (`hosted_invoice_url`, `invoice_pdf`) and receipts (`receipt_url`).

use axum::http::StatusCode;

use super::{date, escape, layout, money, not_found, Page};
use crate::store::Store;

/// `GET /invoices/{id}`.
pub(super) fn invoice(store: &Store, id: &str) -> Page {
    let Some(inv) = store.invoices.get(id).filter(|i| i.finalized_at.is_some()) else {
        return not_found("invoice");
    };
    let lines: String = inv
        .lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                escape(&l.description),
                money(l.amount, &inv.currency)
            )
        })
        .collect();
    let body = format!(
        "<h1>Invoice {number}</h1><p class=\"note\">{date} · <span data-testid=\"invoice-status\">{status}</span></p>\
         <table><tbody>{lines}</tbody><tfoot><tr><th>Total</th><th class=\"n\">{total}</th></tr>\
         <tr><th>Paid</th><th class=\"n\">{paid}</th></tr></tfoot></table>\
         <p><a href=\"/invoices/{id}/pdf\">Download PDF</a></p>",
        number = escape(inv.number.as_deref().unwrap_or(&inv.id)),
        date = date(inv.created),
        status = escape(&inv.status),
        total = money(inv.total(), &inv.currency),
        paid = money(inv.amount_paid, &inv.currency),
        id = escape(id),
    );
    Page::Html(StatusCode::OK, layout("Invoice", &body))
}

/// `GET /invoices/{id}/pdf`: a one-page PDF with the invoice's number, lines and total.
pub(super) fn invoice_pdf(store: &Store, id: &str) -> Page {
    let Some(inv) = store.invoices.get(id).filter(|i| i.finalized_at.is_some()) else {
        return not_found("invoice");
    };
    let mut text = vec![
        format!("Invoice {}", inv.number.as_deref().unwrap_or(&inv.id)),
        format!("Date {}", date(inv.created)),
    ];
    text.extend(
        inv.lines
            .iter()
            .map(|l| format!("{}  {}", l.description, money(l.amount, &inv.currency))),
    );
    text.push(format!(
        "Total {}  ({})",
        money(inv.total(), &inv.currency),
        inv.status
    ));
    Page::Pdf(pdf(&text))
}

/// `GET /receipts/{charge}`.
pub(super) fn receipt(store: &Store, id: &str) -> Page {
    let Some(charge) = store.charges.get(id).filter(|c| c.status == "succeeded") else {
        return not_found("receipt");
    };
    // Stripe keeps a receipt up to date with the charge's refunds.
    let refunded = if charge.amount_refunded > 0 {
        format!(
            "<p data-testid=\"receipt-refunded\">{} refunded</p>",
            money(charge.amount_refunded, &charge.currency)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Receipt</h1><p data-testid=\"receipt-amount\">{amount} paid on {date}</p>{refunded}\
         <p>{brand} •••• {last4}</p>{invoice}",
        amount = money(charge.amount, &charge.currency),
        date = date(charge.created),
        brand = escape(charge.card.brand),
        last4 = escape(charge.card.last4),
        invoice = charge.invoice.as_ref().map_or(String::new(), |i| format!(
            "<p><a href=\"/invoices/{0}\">Invoice</a></p>",
            escape(i)
        )),
    );
    Page::Html(StatusCode::OK, layout("Receipt", &body))
}

/// A minimal PDF 1.4 document: one page, one line of Helvetica per entry.
fn pdf(lines: &[String]) -> Vec<u8> {
    let escape_pdf = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                _ => vec![c],
            })
            .collect()
    };
    let mut content = String::from("BT /F1 12 Tf 56 780 Td 16 TL\n");
    for line in lines {
        content.push_str(&format!("({}) Tj T*\n", escape_pdf(line)));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (n, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{object}\nendobj\n", n + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for offset in offsets {
        out.push_str(&format!("{offset:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_has_a_valid_cross_reference_table() {
        let bytes = pdf(&["Invoice (1)".to_owned(), "Total $19.00".to_owned()]);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.contains("(Invoice \\(1\\)) Tj"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[startxref..].starts_with("xref"));
        let first_offset: usize = text[startxref..].lines().nth(3).unwrap()[..10]
            .parse()
            .unwrap();
        assert!(text[first_offset..].starts_with("1 0 obj"));
    }
}
