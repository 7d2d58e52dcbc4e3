"""The ZSKT plan at cpu: which runs train to the plateau, the equal-budget sweeps, β in the paper's units."""
from reprolib.chapters.zskt import CHAPTER
from reprolib.chapters.zskt.plan import PLATEAU_PAIRS
from reprolib.chapters.zskt.reported import BIG_PAIR, MAIN_PAIR, PAIRS


def test_runs_other_claims_build_on_train_to_the_plateau_with_two_seeds():
    plan = CHAPTER.plan(CHAPTER.settings("cpu"))
    pairs = plan.pair_runs()
    assert {MAIN_PAIR, BIG_PAIR} <= set(PLATEAU_PAIRS)
    for p in PAIRS:
        its = {c.iterations for c in pairs[p]}
        assert len(pairs[p]) >= 2 and its == {1500 if p in PLATEAU_PAIRS else plan.settings.sweep_iterations}
    assert plan.base.iterations >= 1500
    for cfgs in (plan.same_arch_runs(), plan.chain_runs()):
        assert len(cfgs) >= 2 and all(c.iterations == plan.base.iterations for c in cfgs)
    # the main pair, on which the >= 80 %-of-teacher claim rests, has its own, larger seed count
    assert [c.seed for c in pairs[MAIN_PAIR]] == [0, 1, 2, 3]
    assert [c.seed for c in CHAPTER.plan(CHAPTER.settings("cpu", seeds=[5])).pair_runs()[MAIN_PAIR]] == [5, 6, 7, 8]
    # a chain's middle link is the wider pair's run itself (trained once, at the plateau)
    assert plan.chain_runs()[0].link_config(1) == pairs[BIG_PAIR][0]


def test_equal_budget_comparisons_share_their_baseline():
    plan = CHAPTER.plan(CHAPTER.settings("cpu"))
    base = plan.sweep_base_runs()
    assert plan.beta_runs()[plan.base.beta] == base
    assert plan.generator_lr_runs()[1e-3] == base
    assert all(c.iterations == plan.settings.sweep_iterations for c in plan.dynamic_runs() + base)


def test_beta_is_in_the_papers_units_everywhere():
    s = CHAPTER.settings("cpu")
    plan = CHAPTER.plan(s)
    assert all(c.beta_units == "paper" for c in plan.configs(available_only=False) if hasattr(c, "beta_units"))
    assert plan.base.at_scale(s["pair.image_size"]) == (16 / 32) ** 2


def test_few_shot_baselines_have_enough_seeds_to_separate_kd_at_from_no_teacher():
    plan = CHAPTER.plan(CHAPTER.settings("cpu"))
    assert plan.fewshot_seeds == tuple(range(8))
    runs = plan.fewshot_runs()
    assert set(runs) == {(mode, m) for m in (10, 50) for mode in ("kd+at", "none")}
    assert all(len(cfgs) == 8 for cfgs in runs.values())
    # a notebook's seeds parameter still decides the first seeds
    assert CHAPTER.plan(CHAPTER.settings("smoke", seeds=[3])).fewshot_seeds == (3,)
    assert CHAPTER.plan(CHAPTER.settings("cpu", seeds=[7])).fewshot_seeds == tuple(range(7, 15))
