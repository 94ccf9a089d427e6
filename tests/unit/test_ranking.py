"""Ranking arithmetic: equal scores share a rank, listed by who reached the score first."""

from __future__ import annotations

from bot.progress import Score, overall, rank, sharing


def test_equal_scores_share_a_rank_listed_by_who_reached_them_first():
    scores = [
        Score("丙", 1, 2, "2020-08-13T03:00:00Z"),
        Score("甲", 2, 2, "2020-08-13T02:00:00Z"),
        Score("乙", 2, 4, "2020-08-13T01:00:00Z"),  # 1/2 as 丙, reached earlier
        Score("丁", 0, 3),
        Score("戊", 0, 1),
    ]
    rows = rank(scores)
    assert [(r.rank, r.score.department) for r in rows] == [
        (1, "甲"), (2, "乙"), (2, "丙"), (4, "丁"), (4, "戊"),
    ]  # fmt: skip
    assert [sharing(rows, r) for r in rows] == [0, 1, 1, 1, 1]


def test_everyone_at_zero_shares_the_first_place():
    rows = rank([Score(d, 0, 4) for d in "甲乙丙"])
    assert {r.rank for r in rows} == {1}


def test_the_district_completion_is_weighted_as_each_departments():
    whole = overall([Score("甲", 2, 2, done_count=1, total_count=1), Score("乙", 0, 6, "", 0, 4)])
    assert (whole.done_weight, whole.total_weight, whole.percent) == (2, 8, 25)
    assert (whole.done_count, whole.total_count) == (1, 5)  # 20 % unweighted: not what is shown


def test_ranks_match_exact_fractions_for_close_and_equal_ratios():
    """The sort key is a float quotient: equal ratios written differently (1/3, 2/6, 333/999)
    must tie, and ratios a hair apart (332/997 and 1/3) must not."""
    from fractions import Fraction

    pairs = [(1, 3), (2, 6), (333, 999), (332, 997), (0, 5), (0, 0), (7, 7), (996, 997), (1, 1)]
    scores = [Score(f"d{k}", done, total, "", done, total) for k, (done, total) in enumerate(pairs)]
    rows = rank(scores)

    def exact(s):
        return Fraction(s.done_weight, s.total_weight) if s.total_weight else Fraction(0)

    assert [exact(r.score) for r in rows] == sorted((exact(s) for s in scores), reverse=True)
    for a in rows:
        for b in rows:
            assert (a.rank == b.rank) == (exact(a.score) == exact(b.score)), (a, b)
