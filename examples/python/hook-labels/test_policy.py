import unittest

import policy


class PolicyTest(unittest.TestCase):
    def test_later_key_wins_in_first_seen_order(self):
        self.assertEqual(policy.labels([("a", "1"), ("b", "2"), ("a", "3")]),
                         [("a", "3"), ("b", "2")])

    def test_empty_key_is_refused(self):
        with self.assertRaisesRegex(ValueError, "empty key"):
            policy.labels([("", "x")])


if __name__ == "__main__":
    unittest.main()
