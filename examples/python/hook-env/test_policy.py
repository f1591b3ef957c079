import unittest

import policy


class PolicyTest(unittest.TestCase):
    def test_later_key_wins_in_first_seen_order(self):
        self.assertEqual(policy.variables([("A", "1"), ("B", "2"), ("A", "3")]),
                         [("A", "3"), ("B", "2")])

    def test_bad_name_is_refused_with_its_name(self):
        with self.assertRaisesRegex(ValueError, "'1X'"):
            policy.variables([("1X", "v")])

    def test_framework_id_is_added(self):
        self.assertEqual(policy.environment([("A", "1")], "fw-1"),
                         [("A", "1"), ("MESETA_FRAMEWORK_ID", "fw-1")])


if __name__ == "__main__":
    unittest.main()
