"""Tests of infra/log_hygiene.py's card scan: ids are not cards, cards are found anywhere.

Run: python3 -m unittest discover -s infra -p 'test_*.py'
"""

import unittest

from log_hygiene import card_numbers, luhn

VISA = "4242424242424242"
# The X-Ray parent id that was reported as "a card number ending 9299": 16 digits, Visa prefix,
# Luhn-valid.
PARENT = "4493185799769299"
TRACE = f"Root=1-67a1b2c3-4d5e6f708192a3b4c5d6e7f8;Parent={PARENT};Sampled=0"


class TraceAndRequestIdsAreNotCards(unittest.TestCase):
    def test_the_reported_parent_id_would_pass_as_a_card_on_its_digits_alone(self):
        self.assertTrue(luhn(PARENT))
        self.assertEqual(card_numbers(f"saw {PARENT} here"), [PARENT])

    def test_ids_are_not_cards(self):
        lines = [
            f"Parent={PARENT}",
            f"_X_AMZN_TRACE_ID={TRACE}",
            f"X-Amzn-Trace-Id: {TRACE}",
            f'{{"xrayTraceId":"{TRACE}","requestId":"{PARENT}"}}',
            f"INFO handler{{request_id={PARENT} trace_id={PARENT}}}: done",
            f'"span_id": "{PARENT}", "parent_id": "{PARENT}"',
            f'{{\\"aws_request_id\\":\\"{PARENT}\\"}}',
            "Root=1-5759e988-bd862e3fe1be46a994272793;Self=1-5759e988-4242424242424242",
        ]
        for line in lines:
            with self.subTest(line=line):
                self.assertEqual(card_numbers(line), [])


class CardsAreFoundAnywhereInALine(unittest.TestCase):
    def test_cards(self):
        lines = [
            VISA,
            f"card {VISA} declined",
            f'{{"number":"{VISA}"}}',
            f"{TRACE} number={VISA}",
            f"Parent={PARENT} {VISA}",
            f"Root=1-67a1b2c3-4d5e;card={VISA};Sampled=1",
            f"request_id={PARENT} card 4242-4242-4242-4242",
            "amex 3782 822463 10005 at the end",
            f'{{"requestId":"{PARENT}","pan":"{VISA}"}}',
        ]
        for line in lines:
            with self.subTest(line=line):
                self.assertEqual(len(card_numbers(line)), 1)

    def test_numbers_that_are_not_cards(self):
        for line in [
            "4242424242424241",
            "1234567890123456",
            "id 550e8400-e29b-41d4-a716-446655440000",
        ]:
            with self.subTest(line=line):
                self.assertEqual(card_numbers(line), [])


if __name__ == "__main__":
    unittest.main()
