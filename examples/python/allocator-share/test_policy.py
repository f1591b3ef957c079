import unittest

from policy import Policy


def cluster():
    p = Policy()
    p.initialize([("cpus", False), ("mem", False)], [[0.01, 32.0]], [])
    p.add_agent(0, [4.0, 4096.0], [])
    p.add_agent(1, [4.0, 4096.0], [])
    p.add_framework(0, [0], False, True, [], [])
    p.add_framework(1, [0], False, True, [], [])
    return p


class PolicyTest(unittest.TestCase):
    def test_each_agent_goes_whole_to_the_lowest_dominant_share(self):
        offers = cluster().allocate(0)
        self.assertEqual([(f, a, amounts) for f, _, a, amounts in offers],
                         [(0, 0, [4.0, 4096.0]), (1, 1, [4.0, 4096.0])])

    def test_offered_resources_are_not_offered_again_until_recovered(self):
        p = cluster()
        p.allocate(0)
        self.assertEqual(p.allocate(1000), [])
        p.recover(0, 0, 0, [4.0, 4096.0], None, 1000)
        self.assertEqual(len(p.allocate(2000)), 1)

    def test_a_decline_filter_holds_until_it_expires(self):
        p = cluster()
        p.remove_framework(1)
        p.allocate(0)
        p.recover(0, 0, 0, [4.0, 4096.0], 1.0, 0)
        p.recover(0, 1, 0, [4.0, 4096.0], 1.0, 0)
        self.assertEqual(p.allocate(500), [])
        self.assertEqual(len(p.allocate(1000)), 2)

    def test_suppressed_roles_get_nothing_until_revived(self):
        p = cluster()
        p.remove_framework(1)
        p.suppress(0, [])
        self.assertEqual(p.allocate(0), [])
        p.revive(0, [])
        self.assertEqual(len(p.allocate(0)), 2)


if __name__ == "__main__":
    unittest.main()
